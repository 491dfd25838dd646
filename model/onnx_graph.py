"""ONNX graphs checked before onnxruntime sees them, then run with one thread.

An ONNX file is data, but a graph can still reach outside itself: an operator of a custom
domain needs a library of native code registered with onnxruntime, and a tensor stored as
"external data" makes the runtime open a file path named in the graph. Neither is ever
produced by skl2onnx for the families served here, so both are refused, as is anything that
is not an ONNX model at all (pickle bytes under the right name, say).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np


class GraphRefused(ValueError):
    """The graph fails a check, or onnxruntime cannot load it."""


# The standard operator sets: ONNX itself (named "" or "ai.onnx") and its ML operators.
STANDARD_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml"})


def runner(data: bytes, input_name: str, width: int) -> Callable[[np.ndarray], np.ndarray]:
    """A function from float64 rows `[n, width]` to float64 predictions `[n]`, once `data`
    passed every check; GraphRefused naming the first that failed."""
    check(data, input_name)
    import onnxruntime

    options = onnxruntime.SessionOptions()
    # One request's rows are a small job: a pool of threads per call would only contend with
    # the event loop and the other requests for the instance's cores.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    try:
        session = onnxruntime.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own exception types
        raise GraphRefused(f"model.onnx: onnxruntime refused the graph: {error}") from None
    shape = session.get_inputs()[0].shape
    if len(shape) != 2 or (shape[1] not in (width, None) and not isinstance(shape[1], str)):
        raise GraphRefused(f"model.onnx: input shape {shape}, expected [n, {width}]")

    def run(X: np.ndarray) -> np.ndarray:
        (output,) = session.run(None, {input_name: X.astype(np.float32)})
        predictions: np.ndarray = output.reshape(len(X)).astype(np.float64)
        return predictions

    return run


def check(data: bytes, input_name: str) -> None:
    """Refuse what is not a plain ONNX model of the standard operator sets."""
    import onnx
    from google.protobuf.message import DecodeError

    try:
        model = onnx.ModelProto.FromString(data)
    except DecodeError as error:
        raise GraphRefused(f"model.onnx is not an ONNX model: {error}") from None
    if model.ir_version <= 0 or not model.graph.node:
        raise GraphRefused("model.onnx is not an ONNX model: no IR version or no graph")
    domains = {opset.domain for opset in model.opset_import}
    domains |= {node.domain for node in _nodes(model.graph)}
    if model.functions:
        domains |= {function.domain for function in model.functions}
    custom = sorted(domains - STANDARD_DOMAINS)
    if custom:
        raise GraphRefused(
            f"model.onnx uses operator domains {custom}: only the standard ONNX domains "
            f"{sorted(STANDARD_DOMAINS)} are served"
        )
    if any(_is_external(tensor) for tensor in _tensors(model.graph)):
        raise GraphRefused("model.onnx refers to external data files: only self-contained graphs")
    inputs = [value.name for value in model.graph.input]
    if inputs != [input_name]:
        raise GraphRefused(f"model.onnx has inputs {inputs}, the manifest says [{input_name!r}]")
    if len(model.graph.output) != 1:
        raise GraphRefused(f"model.onnx has {len(model.graph.output)} outputs, expected one")


def _nodes(graph: Any) -> Iterator[Any]:
    """Every node, those of subgraphs (an If's branches, a Loop's body) included."""
    for node in graph.node:
        yield node
        for attribute in node.attribute:
            for subgraph in (attribute.g, *attribute.graphs):
                yield from _nodes(subgraph)


def _tensors(graph: Any) -> Iterator[Any]:
    yield from graph.initializer
    for node in graph.node:
        for attribute in node.attribute:
            yield attribute.t
            yield from attribute.tensors
            for subgraph in (attribute.g, *attribute.graphs):
                yield from _tensors(subgraph)


def _is_external(tensor: Any) -> bool:
    import onnx

    return bool(tensor.data_location == onnx.TensorProto.EXTERNAL or tensor.external_data)
