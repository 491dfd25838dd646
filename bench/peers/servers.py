"""The three servers of make bench-peers and the one-instance request each answers.

KServe and MLServer run from their own environments (.venv-kserve, .venv-mlserver, which
make bench-peers installs) on free ports, one process each, with their defaults except where
said; predict_batch is the rig's (bench/rig.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.load import BODY
from bench.peers.routed import Target
from bench.rig import ROOT
from infra.local.processes import (
    LOOPBACK,
    Child,
    free_port,
    last_log_line,
    spawn,
    terminate,
    wait_http_ok,
)

INSTANCE = 0.05  # the one instance of bench/load.py's BODY
assert json.loads(BODY) == {"instances": [[INSTANCE]]}
V2_BODY = json.dumps(
    {"inputs": [{"name": "predict", "shape": [1, 1], "datatype": "FP64", "data": [INSTANCE]}]}
).encode()
MODEL = "linear"  # the peers' name for the model
STARTUP_SECONDS = 120.0  # MLServer imports for tens of seconds on a busy machine
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxy


@dataclass(frozen=True)
class Server:
    target: Target
    prediction: Callable[[Any], float]  # the one prediction in its JSON answer
    settings: dict[str, object]

    def predict(self) -> float:
        """Its answer to the one-instance request."""
        request = urllib.request.Request(  # noqa: S310 - the loopback URL of a server we started
            self.target.url, self.target.body, {"Content-Type": "application/json"}
        )
        with _DIRECT.open(request, timeout=10) as response:
            return float(self.prediction(json.loads(response.read())))


def predict_batch(url: str, settings: dict[str, object]) -> Server:
    return Server(Target(url + "/predict", BODY), _v1_prediction, settings)


@contextlib.contextmanager
def peers(model_path: Path, scratch: Path, log_dir: Path) -> Iterator[dict[str, Server]]:
    """KServe and MLServer serving model_path, started together, stopped on exit."""
    with contextlib.ExitStack() as stack:
        started = [_kserve(model_path, log_dir), _mlserver(model_path, scratch, log_dir)]
        for child, _, _ in started:
            stack.callback(terminate, child.process, 10.0)
        for child, ready, _ in started:
            try:
                wait_http_ok(ready, STARTUP_SECONDS, child.process)
            except Exception as error:
                log = last_log_line(child.log_path)
                raise RuntimeError(f"{child.name}: {error}; {log}") from error
        yield {child.name: server for child, _, server in started}


def _kserve(model_path: Path, log_dir: Path) -> tuple[Child, str, Server]:
    python = _python("kserve")
    port = free_port()
    script = Path(__file__).with_name("kserve_server.py")
    argv = [str(python), str(script), MODEL, str(model_path), str(port)]
    child = spawn("kserve", argv, log_dir / "kserve.log", os.environ)
    url = f"http://{LOOPBACK}:{port}/v1/models/{MODEL}"
    settings = {
        **_versions(python, "kserve", "fastapi", "uvicorn", "scikit-learn"),
        "server": "kserve.ModelServer, a custom kserve.Model (bench/peers/kserve_server.py)",
        "protocol": "v1",
        "workers": 1,
        "grpc": False,
    }
    return child, url, Server(Target(url + ":predict", BODY), _v1_prediction, settings)


def _mlserver(model_path: Path, scratch: Path, log_dir: Path) -> tuple[Child, str, Server]:
    python = _python("mlserver")
    port = free_port()
    repository = scratch / "mlserver"
    (repository / MODEL).mkdir(parents=True)
    model_settings = {
        "name": MODEL,
        "implementation": "mlserver_sklearn.SKLearnModel",
        "parameters": {"uri": str(model_path)},
    }
    (repository / MODEL / "model-settings.json").write_text(json.dumps(model_settings))
    settings: dict[str, object] = {
        "host": LOOPBACK,
        "http_port": port,
        "grpc_port": free_port(),
        "metrics_port": free_port(),
        # Inference in the server's own process. The default pool of worker processes
        # crashes here: its workers call asyncio.get_event_loop() under uvloop, which raises
        # "There is no current event loop" (MLServer 1.7.1, Python 3.11).
        "parallel_workers": 0,
    }
    (repository / "settings.json").write_text(json.dumps(settings))
    argv = [str(python.with_name("mlserver")), "start", str(repository)]
    child = spawn("mlserver", argv, log_dir / "mlserver.log", os.environ)
    url = f"http://{LOOPBACK}:{port}/v2/models/{MODEL}"
    described = {
        **_versions(python, "mlserver", "mlserver-sklearn", "fastapi", "uvicorn", "scikit-learn"),
        "server": "mlserver start, the mlserver_sklearn.SKLearnModel runtime",
        "protocol": "v2",
        "parallel_workers": 0,
    }
    return child, url + "/ready", Server(Target(url + "/infer", V2_BODY), _v2_prediction, described)


def _v1_prediction(answer: Any) -> float:
    """predict_batch and KServe's V1: {"predictions": [y]}."""
    return float(answer["predictions"][0])


def _v2_prediction(answer: Any) -> float:
    """The V2 protocol: {"outputs": [{"data": [y], ...}], ...}."""
    return float(answer["outputs"][0]["data"][0])


def _python(peer: str) -> Path:
    python = ROOT / f".venv-{peer}" / "bin" / "python"
    if not python.exists():
        raise SystemExit(f"{python.parent.parent.name} is missing: make bench-peers installs it")
    return python


def _versions(python: Path, *packages: str) -> dict[str, str]:
    """The versions installed in a peer's environment."""
    code = "import importlib.metadata as m, sys; print(*(m.version(p) for p in sys.argv[1:]))"
    shown = subprocess.run(
        [str(python), "-c", code, *packages], capture_output=True, text=True, check=True
    )
    return dict(zip(packages, shown.stdout.split(), strict=True))
