"""The KServe peer, run by .venv-kserve's Python (never imported by the bench): a custom
kserve.Model serving the peers' joblib model on the V1 protocol, as KServe's docs write one.

    python kserve_server.py NAME MODEL_PATH HTTP_PORT
"""

from __future__ import annotations

import sys
import warnings
from typing import Any

import joblib
import numpy as np
from kserve import Model, ModelServer


class Linear(Model):  # type: ignore[misc]  # kserve is not installed where mypy runs
    def __init__(self, name: str, path: str) -> None:
        super().__init__(name)
        self.path = path
        self.estimator: Any = None

    def load(self) -> bool:
        self.estimator = joblib.load(self.path)  # the peers' pickle, from bench/peers/fitted.py
        self.ready = True
        return True

    def predict(
        self,
        payload: dict[str, Any],
        headers: dict[str, str] | None = None,
        response_headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        instances = np.asarray(payload["instances"], dtype=np.float64)
        return {"predictions": self.estimator.predict(instances).tolist()}


def main() -> None:
    name, path, port = sys.argv[1:4]
    # FastAPI (0.136 on) deprecates the ORJSONResponse KServe 0.21 answers with, and the
    # warning reaches the log on every request (the request path resets the warnings
    # registry): silenced, so that KServe is measured and not a deprecation notice.
    warnings.filterwarnings("ignore", message="ORJSONResponse is deprecated")
    model = Linear(name, path)
    model.load()
    # One uvicorn worker process, as predict_batch runs one gunicorn worker; gRPC off, since
    # only HTTP is measured. Everything else is KServe's default.
    ModelServer(http_port=int(port), workers=1, enable_grpc=False).start([model])


if __name__ == "__main__":
    main()
