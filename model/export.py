"""A fitted scikit-learn pipeline as something served without scikit-learn, and without pickle.

- A linear family becomes its weights in raw feature space: the pipeline's StandardScaler,
  (x - mean) / scale, is folded into the estimator's coefficients, so serving is one dot
  product and agrees with the pipeline's own `predict` to rounding (about 1e-15 relative).
- A tree family becomes an ONNX graph (skl2onnx) of its estimator, run by onnxruntime.
  onnxruntime's tree operator takes float32 only (it refuses a float64 graph), so the
  pipeline casts its inputs to float32 before the trees, in training and in `predict` alike,
  and each split's threshold t is stored as the largest float32 not above t: for a float32
  x, x <= t exactly when x <= that float32. Every branch taken is scikit-learn's; only the
  sum of the leaves is rounded in float32 (about 1e-7 relative; docs/models.md).
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

    estimator = pipeline.named_steps["estimator"]  # its float32 step is the graph's input type

    with warnings.catch_warnings():
        # skl2onnx 1.20 hands booleans to an integer attribute of the tree operator, which
        # protobuf 6 accepts with this warning per tree (and protobuf 7 refuses: hence the
        # pin of protobuf below 7 in requirements.txt).
        warnings.filterwarnings("ignore", "Field onnx.AttributeProto.ints: Expected an int")
        graph = to_onnx(
            estimator,
            initial_types=[(ONNX_INPUT, FloatTensorType([None, width]))],
            target_opset=TARGET_OPSET,
        )
    (trees,) = [node for node in graph.graph.node if node.op_type == "TreeEnsembleRegressor"]
    _exact_thresholds(trees, _thresholds(estimator))
    data: bytes = graph.SerializeToString()
    return data


def _thresholds(estimator: Any) -> list[np.ndarray]:
    """Each tree's split thresholds in float64, by node id, as scikit-learn compares them."""
    if hasattr(estimator, "estimators_"):  # a random forest
        return [tree.tree_.threshold for tree in estimator.estimators_]
    return [predictors[0].nodes["num_threshold"] for predictors in estimator._predictors]


def _exact_thresholds(trees: Any, thresholds: list[np.ndarray]) -> None:
    """Set every branch's threshold to the largest float32 not above scikit-learn's."""
    attributes = {attribute.name: attribute for attribute in trees.attribute}
    modes = attributes["nodes_modes"].strings
    tree_ids, node_ids = attributes["nodes_treeids"].ints, attributes["nodes_nodeids"].ints
    values = attributes["nodes_values"].floats
    for index, mode in enumerate(modes):
        if mode != b"BRANCH_LEQ":
            continue
        exact = float(thresholds[tree_ids[index]][node_ids[index]])
        below = np.float32(exact)
        if float(below) > exact:  # compared in float64: numpy would compare in float32
            below = np.nextafter(below, np.float32(-np.inf))
        # The node is the one skl2onnx wrote for this threshold: within one float32 step.
        if abs(float(np.float32(values[index])) - float(below)) > abs(float(below)) * 1e-6:
            raise ValueError(f"tree {tree_ids[index]} node {node_ids[index]}: not {exact}")
        values[index] = float(below)
