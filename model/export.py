"""A fitted scikit-learn pipeline as something served without scikit-learn, and without pickle.

- A linear family becomes its weights in raw feature space: the pipeline's StandardScaler,
  (x - mean) / scale, is folded into the estimator's coefficients, so serving is one dot
  product and agrees with the pipeline's own `predict` to rounding (about 1e-15 relative).
- A tree family becomes an ONNX graph (skl2onnx) run by onnxruntime. onnxruntime's tree
  operator takes float32 only (it refuses a float64 graph), so inputs, thresholds and leaf
  values are float32: predictions agree with scikit-learn's to about 1e-6 relative
  (docs/training.md states the tolerance and the one way it can be exceeded).
"""

from __future__ import annotations

import warnings
from importlib import metadata
from typing import Any

import numpy as np

from model.artifact import LinearWeights, OnnxGraph, Predictor
from model.families import family

ONNX_INPUT = "input"
# ONNX's own operator set and its ML set, fixed so the same pipeline gives the same bytes
# whatever the newest version skl2onnx knows.
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}
LINEAR_LIBRARIES = ("scikit-learn", "numpy")
ONNX_LIBRARIES = ("scikit-learn", "skl2onnx", "onnx", "onnxruntime")


def predictor(pipeline: Any, family_name: str, width: int) -> Predictor:
    if family(family_name).linear:
        return linear_weights(pipeline)
    return OnnxGraph(onnx_bytes(pipeline, width), ONNX_INPUT, width)


def libraries(family_name: str) -> dict[str, str]:
    """The versions that trained the model and that it needs to be served."""
    names = LINEAR_LIBRARIES if family(family_name).linear else ONNX_LIBRARIES
    return {name: metadata.version(name) for name in names}


def linear_weights(pipeline: Any) -> LinearWeights:
    scaler, estimator = pipeline.named_steps["scale"], pipeline.named_steps["estimator"]
    weights = np.asarray(estimator.coef_, dtype=np.float64) / scaler.scale_
    bias = float(estimator.intercept_) - float(scaler.mean_ @ weights)
    return LinearWeights(tuple(weights.tolist()), bias)


def onnx_bytes(pipeline: Any, width: int) -> bytes:
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType

    with warnings.catch_warnings():
        # skl2onnx 1.20 hands booleans to an integer attribute of the tree operator, which
        # protobuf 6 accepts with this warning per tree (and protobuf 7 refuses: hence the
        # pin of protobuf below 7 in requirements.txt).
        warnings.filterwarnings("ignore", "Field onnx.AttributeProto.ints: Expected an int")
        graph = to_onnx(
            pipeline,
            initial_types=[(ONNX_INPUT, FloatTensorType([None, width]))],
            target_opset=TARGET_OPSET,
        )
    data: bytes = graph.SerializeToString()
    return data
