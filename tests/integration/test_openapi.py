"""`GET /openapi.json`: a valid OpenAPI 3 document that the function keeps to.

The document is validated as OpenAPI 3, compared with the route table and the error classes
it is built from, and then schemathesis sends generated requests, valid and invalid, to
every operation: none may get a 5xx or an answer the document does not describe.
"""

from __future__ import annotations

import pytest
import schemathesis
from functions_framework import create_app
from hypothesis import HealthCheck, given, settings
from openapi_spec_validator import validate
from schemathesis.generation import GenerationMode
from starlette.testclient import TestClient

from functions.platform.config import Settings
from functions.serving.openapi import ERROR_CLASSES, document
from functions.serving.routes import ROUTES
from tests.clients import MAIN
from tests.soak.flood import CHECKS  # the same checks as the soak's generated requests

pytestmark = pytest.mark.emulators
EXAMPLES = 25  # per operation and mode: about 20 s for the whole document


@pytest.fixture
def app(serving_env, repository_root, production):
    return create_app("predict_batch", MAIN)


def test_the_document_is_valid_openapi_3(app):
    response = TestClient(app).get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    served = response.json()
    validate(served)
    assert served["openapi"].startswith("3.")
    assert served == document(Settings.from_env())


def test_the_document_has_every_route_and_no_other():
    paths = document(Settings())["paths"]
    assert set(paths) == {route.path for route in ROUTES}
    for route in ROUTES:
        operations = paths[route.path]
        assert set(operations) == {method.lower() for method in route.allowed()}
        statuses = set(operations[route.method.lower()]["responses"])
        assert statuses == {"200", *(str(error.code) for error in route.errors)}
        assert set(route.errors) <= set(ERROR_CLASSES)


def test_the_limits_in_the_document_are_the_settings():
    schemas = document(Settings(max_instances=7, max_body_bytes=99))["components"]["schemas"]
    assert schemas["PredictRequest"]["properties"]["instances"]["maxItems"] == 7
    post = document(Settings(max_body_bytes=99))["paths"]["/predict"]["post"]
    assert "99 bytes" in post["requestBody"]["description"]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_generated_requests_get_documented_answers_and_never_a_5xx(app, mode):
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    # Every operation but GET /openapi.json, which schemathesis leaves out: it is the schema.
    assert len(operations) == sum(len(route.allowed()) for route in ROUTES) - 1
    for operation in operations:
        negatable = [*operation.path_parameters, *operation.query, *operation.headers]
        if mode is GenerationMode.NEGATIVE and not (negatable or list(operation.body)):
            continue  # nothing in the request to get wrong (GET /health)

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case: schemathesis.Case) -> None:
            case.call_and_validate(checks=CHECKS)

        run()
