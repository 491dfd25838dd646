"""The Open Inference Protocol ("V2", KServe's and Triton's REST API): inference bodies in and
out, with Triton's binary tensor data extension.

Pure: bytes in, bytes out. The routes read and set the `Inference-Header-Content-Length` header
and the content type; a decoded request is an `Instances` like the JSON and CSV ones, so the
shared core validates it against the model with `.matrix(features)`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain
from typing import TYPE_CHECKING, Any, NoReturn

import numpy as np
import orjson

from functions.platform.errors import InvalidArgument, PayloadTooLarge

if TYPE_CHECKING:
    from model.artifact import ModelArtifact

HEADER_LENGTH = "Inference-Header-Content-Length"
JSON_CONTENT_TYPE = "application/json"
BINARY_CONTENT_TYPE = "application/octet-stream"
INPUT_NAME = "input-0"
OUTPUT_NAME = "predict"
# Little-endian whatever the machine: the binary extension's byte order.
DATATYPES: dict[str, np.dtype[Any]] = {
    "FP64": np.dtype("<f8"),
    "FP32": np.dtype("<f4"),
    **{f"INT{bits}": np.dtype(f"<i{bits // 8}") for bits in (8, 16, 32, 64)},
    **{f"UINT{bits}": np.dtype(f"<u{bits // 8}") for bits in (8, 16, 32, 64)},
}
_PLATFORMS = {"onnx": "onnxruntime_onnx"}  # Triton's name; the linear formats are numpy's
_REQUEST_FIELDS = frozenset({"id", "parameters", "inputs", "outputs"})
_TENSOR_FIELDS = frozenset({"name", "datatype", "shape", "parameters", "data"})
_INPUT_PARAMETERS = frozenset({"binary_data_size"})
_JSON_TYPES = {type(None): "null", bool: "a boolean", str: "a string", list: "a list"}


@dataclass(slots=True)  # not frozen: a frozen init costs half a microsecond a request
class InferenceRequest:
    """One V2 inference request: its single input tensor, flat, and how to answer."""

    id: str | None
    input_name: str
    datatype: str
    shape: tuple[int, ...]
    values: np.ndarray
    parameters: dict[str, Any]  # accepted; only binary_data_output has a meaning here
    binary_output: bool
    # Values read from JSON are finite already: orjson refuses what would overflow a double.
    finite: bool = False

    def __len__(self) -> int:
        return self.shape[0]

    def matrix(self, features: Sequence[str]) -> np.ndarray:
        width = len(features)
        if self.shape[1] != width:
            raise InvalidArgument(
                f"inputs[0].shape {list(self.shape)}: the model takes {width} features "
                f"[{', '.join(features)}] per row, shape [n, {width}]"
            )
        values = self.values
        if values.dtype == np.float64 and values.flags.c_contiguous and values.flags.aligned:
            matrix = values.reshape(self.shape)  # JSON's, and most binary FP64: no copy
        else:  # a binary tensor may sit at an odd offset of the body: aligned for the model
            matrix = np.require(values.reshape(self.shape), np.float64, ["C", "A"])
        if not self.finite and values.dtype.kind == "f":
            finite = np.isfinite(matrix)
            if not finite.all():
                index = int(np.flatnonzero(~finite)[0])
                raise InvalidArgument(f"inputs[0].data[{index}]: not a finite number")
        return matrix


def parse_header_length(raw: str | None) -> int | None:
    """The `Inference-Header-Content-Length` header, if sent: the JSON's length in bytes."""
    if raw is None:
        return None
    text = raw.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise InvalidArgument(f"{HEADER_LENGTH} must be a whole number of bytes, got {_brief(raw)}")
    return int(text)


def decode_infer(body: bytes, header_length: int | None, max_instances: int) -> InferenceRequest:
    """A request body; with `header_length`, the JSON is that many bytes and tensors follow."""
    header, binary = _split(body, header_length)
    try:
        document = orjson.loads(header)
    except orjson.JSONDecodeError as error:
        raise InvalidArgument(f"malformed JSON: {error}") from None
    _check_fields(document, _REQUEST_FIELDS, "the request")
    tensor = _one_input(document.get("inputs"))
    if not isinstance(tensor.get("name"), str):
        raise InvalidArgument("inputs[0].name must be a string")
    datatype = _datatype(tensor.get("datatype"))
    shape = _shape(tensor.get("shape"), max_instances)
    request_id = document.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise InvalidArgument(f"id must be a string, got {_json_type(request_id)}")
    parameters = _object(document.get("parameters", {}), "parameters")
    return InferenceRequest(
        id=request_id,
        input_name=tensor["name"],
        datatype=datatype,
        shape=shape,
        values=_values(tensor, datatype, shape, binary),
        parameters=parameters,
        binary_output=_binary_output(document.get("outputs"), parameters),
        finite=binary is None or "data" in tensor,
    )


def _split(body: bytes, header_length: int | None) -> tuple[memoryview, memoryview | None]:
    """The JSON header and the binary part after it (None when no header length was sent)."""
    view = memoryview(body)
    if header_length is None:
        return view, None
    if not 0 < header_length <= len(body):
        raise InvalidArgument(f"{HEADER_LENGTH} {header_length}: the body holds {len(body)} bytes")
    return view[:header_length], view[header_length:]


def _one_input(inputs: Any) -> dict[str, Any]:
    if not isinstance(inputs, list) or not inputs:
        raise InvalidArgument("inputs must be a list of one tensor")
    if len(inputs) != 1:
        raise InvalidArgument(f"inputs: the model takes one input tensor, got {len(inputs)}")
    return _check_fields(inputs[0], _TENSOR_FIELDS, "inputs[0]")


def _datatype(datatype: Any) -> str:
    if not isinstance(datatype, str) or datatype not in DATATYPES:
        raise InvalidArgument(
            f"inputs[0].datatype {_brief(datatype)}: use one of {', '.join(DATATYPES)}"
        )
    return str(datatype)


def _shape(shape: Any, max_instances: int) -> tuple[int, int]:
    rows, width = shape if type(shape) is list and len(shape) == 2 else (None, None)
    if not (type(rows) is int and type(width) is int and rows >= 1 and width >= 0):
        raise InvalidArgument(f"inputs[0].shape {_brief(shape)}: use [n, features] with n >= 1")
    if rows > max_instances:
        raise PayloadTooLarge(f"inputs[0].shape: {rows} instances, the limit is {max_instances}")
    return rows, width


def _values(
    tensor: dict[str, Any], datatype: str, shape: tuple[int, int], binary: memoryview | None
) -> np.ndarray:
    size = None
    if "parameters" in tensor:
        parameters = _check_fields(tensor["parameters"], _INPUT_PARAMETERS, "inputs[0].parameters")
        size = parameters.get("binary_data_size")
    if size is not None:
        if "data" in tensor:
            raise InvalidArgument("inputs[0]: give data or parameters.binary_data_size, not both")
        return _binary_values(size, DATATYPES[datatype], shape, binary)
    if "data" not in tensor:
        raise InvalidArgument("inputs[0]: give data, or parameters.binary_data_size")
    if binary:
        raise InvalidArgument(f"{len(binary)} bytes follow the JSON but no input claims them")
    return _json_values(tensor["data"], datatype, shape)


def _binary_values(
    size: Any, dtype: np.dtype[Any], shape: tuple[int, int], binary: memoryview | None
) -> np.ndarray:
    expected = shape[0] * shape[1] * dtype.itemsize
    if type(size) is not int or size != expected:
        raise InvalidArgument(
            f"inputs[0].parameters.binary_data_size {_brief(size)}: "
            f"shape {list(shape)} takes {expected} bytes"
        )
    if binary is None:
        raise InvalidArgument(f"inputs[0]: binary data needs the {HEADER_LENGTH} header")
    if len(binary) != size:
        raise InvalidArgument(
            f"inputs[0].parameters.binary_data_size {size}: {len(binary)} bytes follow the JSON"
        )
    return np.frombuffer(binary, dtype=dtype)


def _json_values(data: Any, datatype: str, shape: tuple[int, int]) -> np.ndarray:
    """Flat or nested lists, counted as Triton does; type checks run in C (map, set)."""
    cells = _flatten(data)
    if len(cells) != shape[0] * shape[1]:
        raise InvalidArgument(
            f"inputs[0].data: {len(cells)} values, shape {list(shape)} takes {shape[0] * shape[1]}"
        )
    dtype = DATATYPES[datatype]
    allowed = {int} if dtype.kind in "iu" else {int, float}
    if not set(map(type, cells)) <= allowed:
        _raise_first_bad_value(cells, datatype)
    try:
        if datatype == "FP64":  # the common case: nothing to overflow, no error state to set
            return np.array(cells, dtype=np.float64)
        if dtype.kind == "f":  # through float64, so that 1e300 as FP32 is refused, not inf
            with np.errstate(over="raise"):
                return np.array(cells, dtype=np.float64).astype(dtype, copy=False)
        return np.array(cells, dtype=dtype)
    except (OverflowError, FloatingPointError):
        _raise_first_bad_value(cells, datatype)


def _flatten(data: Any) -> list[Any]:
    if not isinstance(data, list):
        raise InvalidArgument(f"inputs[0].data must be a list, got {_json_type(data)}")
    cells = data
    while cells and type(cells[0]) is list:
        if set(map(type, cells)) != {list}:
            raise InvalidArgument("inputs[0].data: nest lists to the same depth throughout")
        cells = list(chain.from_iterable(cells))
    return cells


def _raise_first_bad_value(cells: list[Any], datatype: str) -> NoReturn:
    """Walked only once a check over the whole list failed, to name the first bad value."""
    dtype = DATATYPES[datatype]
    whole = dtype.kind in "iu"
    low: float  # Python numbers, exact: a comparison with numpy's would cast the value
    high: float
    if whole:
        low, high = int(np.iinfo(dtype).min), int(np.iinfo(dtype).max)
    else:
        low, high = float(np.finfo(dtype).min), float(np.finfo(dtype).max)
    for index, value in enumerate(cells):
        where = f"inputs[0].data[{index}]"
        if type(value) is float and whole:
            raise InvalidArgument(f"{where}: {datatype} takes whole numbers, got {value!r}")
        if type(value) not in (int, float):
            raise InvalidArgument(f"{where}: not a number, got {_json_type(value)}")
        if not low <= value <= high:
            raise InvalidArgument(f"{where}: {value} is out of range for {datatype}")
    raise InvalidArgument(f"inputs[0].data: not all values are {datatype}")  # pragma: no cover


def _binary_output(outputs: Any, parameters: dict[str, Any]) -> bool:
    """The request's binary_data_output, unless the output asks otherwise itself."""
    binary = _boolean(parameters.get("binary_data_output", False), "parameters.binary_data_output")
    if outputs is None:
        return binary
    if not isinstance(outputs, list):
        raise InvalidArgument(f"outputs must be a list, got {_json_type(outputs)}")
    for index, output in enumerate(outputs):
        where = f"outputs[{index}]"
        _check_fields(output, frozenset({"name", "parameters"}), where)
        if output.get("name") != OUTPUT_NAME:
            raise InvalidArgument(
                f"{where}.name {_brief(output.get('name'))}: the only output is {OUTPUT_NAME!r}"
            )
        asked = _check_fields(
            output.get("parameters", {}), frozenset({"binary_data"}), f"{where}.parameters"
        )
        binary = _boolean(asked.get("binary_data", binary), f"{where}.parameters.binary_data")
    return binary


def encode_infer(
    request: InferenceRequest, model_name: str, model_version: int, predictions: np.ndarray
) -> tuple[bytes, int | None]:
    """The answer's body and, when its output is binary, the JSON header's length in bytes."""
    values = np.ascontiguousarray(predictions, dtype=np.float64).reshape(-1)
    output: dict[str, Any] = {"name": OUTPUT_NAME, "datatype": "FP64", "shape": [values.size]}
    if request.binary_output:
        output["parameters"] = {"binary_data_size": values.nbytes}
    else:
        output["data"] = values
    answer: dict[str, Any] = {"model_name": model_name, "model_version": str(model_version)}
    if request.id is not None:
        answer["id"] = request.id
    answer["outputs"] = [output]
    header = orjson.dumps(answer, option=orjson.OPT_SERIALIZE_NUMPY)
    if not request.binary_output:
        return header, None
    return header + values.astype("<f8", copy=False).tobytes(), len(header)


def model_metadata(model: ModelArtifact) -> dict[str, Any]:
    """`GET /v2/models/{name}[/versions/{v}]`: the tensors the model takes and gives."""
    return {
        "name": model.name,
        "versions": [str(model.version)],
        "platform": _PLATFORMS.get(model.format, "numpy"),
        "inputs": [{"name": INPUT_NAME, "datatype": "FP64", "shape": [-1, len(model.features)]}],
        "outputs": [{"name": OUTPUT_NAME, "datatype": "FP64", "shape": [-1]}],
        "parameters": {"features": list(model.features), "family": model.family},
    }


def _check_fields(value: Any, allowed: frozenset[str], where: str) -> dict[str, Any]:
    document = _object(value, where)
    if document.keys() <= allowed:  # one C call: most requests
        return document
    unknown = sorted(set(document) - allowed)
    if unknown:
        raise InvalidArgument(
            f"{where}: unknown fields {_brief(unknown)}: use {', '.join(sorted(allowed))}"
        )
    return document


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidArgument(f"{where} must be a JSON object, got {_json_type(value)}")
    return value


def _boolean(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidArgument(f"{where} must be true or false, got {_json_type(value)}")
    return value


def _json_type(value: Any) -> str:
    return _JSON_TYPES.get(type(value), "an object" if isinstance(value, dict) else "a number")


def _brief(value: Any) -> str:
    """A value sent by the client, cut short enough for an error message."""
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."
