from __future__ import annotations

import contextlib

import numpy as np
import orjson
import pytest
import tritonclient.http as triton
from hypothesis import given, settings
from hypothesis import strategies as st
from tritonclient.http._utils import _get_inference_request
from tritonclient.utils import np_to_triton_dtype

from functions.platform.errors import InvalidArgument, PayloadTooLarge
from functions.serving.open_inference import decode_infer, encode_infer, model_metadata
from model.artifact import LinearWeights, ModelArtifact

LIMIT = 1000
FEATURES = ("age", "sex", "bmi")


def triton_body(array, binary_input, outputs, request_id="") -> tuple[bytes, int | None]:
    """A request exactly as tritonclient's InferenceServerClient.infer would send it."""
    tensor = triton.InferInput("input-0", list(array.shape), np_to_triton_dtype(array.dtype))
    tensor.set_data_from_numpy(array, binary_data=binary_input)
    return _get_inference_request(
        inputs=[tensor],
        request_id=request_id,
        outputs=outputs,
        sequence_id=0,
        sequence_start=False,
        sequence_end=False,
        priority=0,
        timeout=None,
        custom_parameters=None,
    )


def json_body(**tensor) -> bytes:
    base = {"name": "input-0", "datatype": "FP64", "shape": [2, 3], "data": [1, 2, 3, 4, 5, 6]}
    return orjson.dumps({"inputs": [base | tensor]})


def binary_head(size: int) -> bytes:
    tensor = {"name": "x", "datatype": "FP64", "shape": [2, 3]}
    return orjson.dumps({"inputs": [tensor | {"parameters": {"binary_data_size": size}}]})


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
@pytest.mark.parametrize("binary_input", [True, False])
@pytest.mark.parametrize("binary_output", [True, False])
def test_tritonclient_round_trip(dtype, binary_input, binary_output):
    array = (np.random.default_rng(7).normal(size=(4, 3)) * 100).astype(dtype)
    outputs = [triton.InferRequestedOutput("predict", binary_data=binary_output)]
    body, header_length = triton_body(array, binary_input, outputs, request_id="r-1")
    assert (header_length is None) is not binary_input

    request = decode_infer(body, header_length, LIMIT)
    assert (len(request), request.id, request.binary_output) == (4, "r-1", binary_output)
    assert request.values.dtype == dtype
    assert np.array_equal(request.values, array.ravel())
    matrix = request.matrix(FEATURES)
    assert (matrix.dtype, matrix.flags.c_contiguous) == (np.float64, True)
    assert np.array_equal(matrix, array.astype(np.float64))

    predictions = np.random.default_rng(8).normal(size=4) / 3
    answer, answer_length = encode_infer(request, "diabetes", 7, predictions)
    assert (answer_length is None) is not binary_output
    result = triton.InferResult.from_response_body(answer, False, answer_length, None)
    assert np.array_equal(result.as_numpy("predict"), predictions)
    reply = result.get_response()
    assert (reply["model_name"], reply["model_version"], reply["id"]) == ("diabetes", "7", "r-1")


def test_no_outputs_asks_for_binary_and_no_id_is_echoed():
    # tritonclient sets parameters.binary_data_output when no output is named.
    body, header_length = triton_body(np.ones((1, 3)), False, outputs=None)
    request = decode_infer(body, header_length, LIMIT)
    assert (request.binary_output, request.id) == (True, None)
    answer, answer_length = encode_infer(request, "m", 1, np.array([2.5]))
    result = triton.InferResult.from_response_body(answer, False, answer_length, None)
    assert result.as_numpy("predict").tolist() == [2.5]
    assert "id" not in result.get_response()


def test_nested_data_reads_as_flat():
    request = decode_infer(json_body(data=[[1, 2, 3], [4, 5.5, 6]]), None, LIMIT)
    assert request.matrix(FEATURES).tolist() == [[1, 2, 3], [4, 5.5, 6]]


@pytest.mark.parametrize(
    ("body", "header_length", "match"),
    [
        (b"{", None, "malformed JSON"),
        (b"[]", None, "the request must be a JSON object"),
        (orjson.dumps({"inputs": [], "x": 1}), None, r"the request: unknown fields \['x'\]"),
        (orjson.dumps({"inputs": [{}, {}]}), None, "the model takes one input tensor, got 2"),
        (json_body(extra=1), None, r"inputs\[0\]: unknown fields \['extra'\]"),
        (json_body(name=3), None, r"inputs\[0\].name must be a string"),
        (json_body(datatype="BYTES"), None, r"datatype 'BYTES': use one of FP64, FP32, INT8"),
        (json_body(datatype=["FP16"]), None, r"datatype \['FP16'\]: use one of"),
        (json_body(shape=[6]), None, r"shape \[6\]: use \[n, features\] with n >= 1"),
        (json_body(shape=[0, 3]), None, r"shape \[0, 3\]: use \[n, features\]"),
        (json_body(shape=[2, True]), None, r"shape \[2, True\]"),
        (json_body(data=[1, 2]), None, r"data: 2 values, shape \[2, 3\] takes 6"),
        (json_body(data=[1, 2, 3, 4, 5, True]), None, r"data\[5\]: not a number, got a boolean"),
        (json_body(data=[1, "2", 3, 4, 5, 6]), None, r"data\[1\]: not a number, got a string"),
        (json_body(data=[[1, 2, 3], 4, 5, 6]), None, "nest lists to the same depth"),
        (json_body(data={"a": 1}), None, "data must be a list, got an object"),
        (json_body(datatype="INT64", data=[1, 2, 3, 4, 5.5, 6]), None, "INT64 takes whole"),
        (json_body(datatype="INT8", data=[1, 2, 3, 4, 500, 6]), None, "500 is out of range"),
        (json_body(datatype="FP32", data=[1, 2, 3, 4, 1e300, 6]), None, r"data\[4\]: 1e\+300"),
        (json_body(data=None), None, "data must be a list, got null"),
        (
            orjson.dumps({"inputs": [{"name": "x", "datatype": "FP64", "shape": [1, 1]}]}),
            None,
            "give data, or parameters.binary_data_size",
        ),
        (
            json_body(parameters={"shared_memory_region": "r"}),
            None,
            r"inputs\[0\].parameters: unknown fields \['shared_memory_region'\]",
        ),
        (json_body(parameters={"binary_data_size": 48}), None, "data or .+ not both"),
        (json_body() + b"x", 10**6, r"Inference-Header-Content-Length 1000000: .+ holds"),
        (json_body() + b"\0" * 8, len(json_body()), "8 bytes follow the JSON but no input"),
        (binary_head(40) + b"\0" * 40, len(binary_head(40)), "size 40: shape .+ takes 48"),
        (binary_head(48), None, "binary data needs the Inference-Header-Content"),
        (binary_head(48) + b"\0" * 47, len(binary_head(48)), "48: 47 bytes follow the JSON"),
    ],
)
def test_bad_bodies_are_named(body, header_length, match):
    with pytest.raises(InvalidArgument, match=match):
        decode_infer(body, header_length, LIMIT)


@pytest.mark.parametrize(
    ("outputs", "parameters", "match"),
    [
        ([{"name": "y"}], {}, r"outputs\[0\].name 'y': the only output is 'predict'"),
        ([{"name": "predict", "parameters": {"binary_data": 1}}], {}, "must be true or false"),
        ([{"name": "predict", "parameters": {"classification": 2}}], {}, "unknown fields"),
        ({"name": "predict"}, {}, "outputs must be a list, got an object"),
        (None, {"binary_data_output": "yes"}, "parameters.binary_data_output must be true"),
    ],
)
def test_bad_outputs_are_named(outputs, parameters, match):
    document = orjson.loads(json_body()) | {"outputs": outputs, "parameters": parameters}
    with pytest.raises(InvalidArgument, match=match):
        decode_infer(orjson.dumps(document), None, LIMIT)


def test_matrix_names_the_features_and_the_first_bad_value():
    array = np.array([[1.0, 2.0, 3.0], [4.0, np.inf, np.nan]])
    body, header_length = triton_body(array, True, outputs=None)
    request = decode_infer(body, header_length, LIMIT)
    with pytest.raises(InvalidArgument, match=r"inputs\[0\].data\[4\]: not a finite number"):
        request.matrix(FEATURES)
    with pytest.raises(
        InvalidArgument,
        match=r"shape \[2, 3\]: the model takes 2 features \[age, sex\] per row, shape \[n, 2\]",
    ):
        request.matrix(FEATURES[:2])


def test_more_instances_than_the_limit():
    with pytest.raises(PayloadTooLarge, match="1001 instances, the limit is 1000"):
        decode_infer(json_body(shape=[1001, 3]), None, LIMIT)


def test_model_metadata():
    model = ModelArtifact(
        name="diabetes", version=3, features=FEATURES, family="ridge", params={},
        predictor=LinearWeights((1.0, 2.0, 3.0), 0.5), reference={}, metrics={}, lineage={},
    )  # fmt: skip
    assert model_metadata(model) == {
        "name": "diabetes",
        "versions": ["3"],
        "platform": "numpy",
        "inputs": [{"name": "input-0", "datatype": "FP64", "shape": [-1, 3]}],
        "outputs": [{"name": "predict", "datatype": "FP64", "shape": [-1]}],
        "parameters": {"features": list(FEATURES), "family": "ridge"},
    }


numbers = st.integers(-(2**63), 2**64 - 1) | st.floats(-1e300, 1e300)
json_values = st.recursive(
    st.none() | st.booleans() | numbers | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=12,
)
# Each field mostly valid, sometimes any JSON: the fuzz reaches the data as well as the checks.
tensor_fields = {
    "name": st.just("x"),
    "datatype": st.sampled_from(["FP64", "FP32", "INT8", "UINT64", "BYTES"]),
    "shape": st.sampled_from([[1, 3], [2, 3], [4, 3], [1, 2]]),
    "data": st.lists(numbers, min_size=3, max_size=3) | st.just([[1, 2, 3]]),
    "parameters": st.sampled_from([{"binary_data_size": 24}, {"binary_data_size": 48}]),
}


@st.composite
def bodies(draw) -> tuple[bytes, int | None]:
    """Random bytes, or a request of random fields with random bytes after its JSON."""
    if draw(st.booleans()):
        return draw(st.binary(max_size=64)), draw(st.none() | st.integers(-4, 80))
    keys = {"name", "datatype", "shape"} | draw(st.sets(st.sampled_from(["data", "parameters"])))
    tensor = {key: draw(tensor_fields[key] | json_values) for key in keys}
    head = orjson.dumps({"inputs": [tensor], "outputs": draw(st.none() | json_values)})
    header_length = draw(st.sampled_from([None, len(head)]) | st.integers(-4, 200))
    if header_length is None:
        return head, None
    return head + draw(st.binary(max_size=50)), header_length


@settings(max_examples=400, deadline=None)
@given(bodies())
def test_any_bytes_give_an_answer_or_a_client_error(case):
    with contextlib.suppress(InvalidArgument, PayloadTooLarge):
        decode_infer(*case, max_instances=3).matrix(FEATURES)
