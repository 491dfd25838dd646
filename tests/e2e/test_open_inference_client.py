"""A real Open Inference Protocol client, `tritonclient.http`, against predict_batch as a
process: two models of two families (a linear JSON artifact and trees in ONNX) answer it,
with binary tensors and without, as `POST /predict` answers (docs/open-inference.md)."""

from __future__ import annotations

import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from infra import names
from infra.http_client import http_post_json
from infra.local.processes import LOOPBACK
from model.dataset import DIABETES_FEATURES, load_diabetes

pytestmark = [pytest.mark.e2e, pytest.mark.emulators]
MODELS = (names.MODEL_NAME, names.FULL_MODEL_NAME)


@pytest.fixture
def port(start_system) -> int:
    system = start_system(["predict_batch"], other_models=[names.FULL_MODEL_NAME])
    return system.functions["predict_batch"].port


def test_tritonclient_reads_metadata_infers_on_two_models_and_hears_its_errors(port):
    client = triton.InferenceServerClient(f"{LOOPBACK}:{port}", network_timeout=30.0)
    assert client.is_server_live()
    assert client.is_server_ready()
    assert "binary_tensor_data" in client.get_server_metadata()["extensions"]
    patients = load_diabetes(DIABETES_FEATURES).X[:200]
    for model in MODELS:
        metadata = client.get_model_metadata(model)
        assert metadata["versions"] == ["1"]
        assert client.is_model_ready(model)
        assert client.is_model_ready(model, "1")
        features = metadata["parameters"]["features"]
        rows = patients[:, [DIABETES_FEATURES.index(name) for name in features]]
        assert metadata["inputs"][0]["shape"] == [-1, len(features)]
        own = http_post_json(
            f"http://{LOOPBACK}:{port}/predict?model={model}",
            30.0,
            body={"instances": rows.tolist()},
        )
        for binary in (True, False):
            tensor = triton.InferInput("patients", list(rows.shape), "FP64")
            tensor.set_data_from_numpy(rows, binary_data=binary)
            result = client.infer(
                model,
                [tensor],
                model_version="1",
                outputs=[triton.InferRequestedOutput("predict", binary_data=binary)],
                request_id="r-7",
            )
            answer = result.get_response()
            assert (answer["model_name"], answer["model_version"], answer["id"]) == (
                model,
                "1",
                "r-7",
            )
            np.testing.assert_array_equal(result.as_numpy("predict"), own["predictions"])

    # Unknown models and versions are the client's fault, as the protocol says.
    tensor = triton.InferInput("x", [1, 1], "FP64")
    tensor.set_data_from_numpy(np.array([[0.5]]))
    for model, version, status in [
        ("no-such-model", "", "404"),
        (names.MODEL_NAME, "9", "404"),
        (names.MODEL_NAME, "x", "400"),
    ]:
        with pytest.raises(InferenceServerException) as raised:
            client.infer(model, [tensor], model_version=version)
        assert raised.value.status() == status, raised.value.message()
