"""Many models on one predict_batch, and the Open Inference Protocol beside `/predict`.

On a predict_batch of its own (a fresh process, so its memory is the models'):
- `many_models`: 20 linear models and 5 tree models registered under names of their own;
  the first request to each (its load: a listing, the alias, the artifact) and the memory
  it adds to the worker; then one-instance req/s with every request to the next of the 20
  models in turn, beside the same load on one model (bench/models.lua), trials in turn.
- `open_inference`: one instance by `POST /v2/models/{name}/infer` beside `POST /predict`
  and the framework floor, trials in turn (bench/single.py); 10,000 rows by `/predict`
  (JSON), by V2 JSON and by V2 with binary tensors in and out.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from bench import http_batch, load, rig, single
from bench.batches import TRIALS as BATCH_TRIALS
from bench.payloads import payload
from bench.peers.routed import Routed, Target
from bench.timing import median
from infra.local.processes import free_port
from infra.local.serving import Function
from model.artifact import ModelArtifact
from model.dataset import DIABETES_FEATURES, load_diabetes
from model.estimator import TrainingSpec
from model.registry import Registry
from model.training import train

LINEAR_MODELS = 20
TREE_MODELS = 5
SERVER = "predict_batch_models"
ROTATE_SCRIPT = Path(__file__).with_name("models.lua")
CONCURRENCY = (1, 8)
# Fewer trials than http_single's six: two loads compared at two levels, and make bench as a
# whole must stay under 15 minutes.
TRIALS = 4
BATCH_ROWS = 10_000
JSON = "application/json"
OCTET_STREAM = "application/octet-stream"


def measure(running: rig.Rig, plan: single.Plan) -> dict[str, Any]:
    system = running.system
    plan = dataclasses.replace(plan, trials=min(plan.trials, TRIALS))
    linear, trees = _register(system, running.model)
    system.start_function(
        Function("predict_batch", "http", free_port(), "main.py"),
        {"MAX_LOADED_MODELS": str(LINEAR_MODELS + TREE_MODELS + 1)},
        SERVER,
    )
    try:
        url = system.url(SERVER)
        _first_load(url, running.model.name)  # the process's own imports and clients, warm
        loads = _loads(system, url, linear, trees)
        rates = _rotation(url, linear, plan)
        v2 = _open_inference(running, url, plan)
    finally:
        system.stop_function(SERVER)
    return {"many_models": {**loads, **rates}, "open_inference": v2}


def _register(system: Any, model: ModelArtifact) -> tuple[list[str], list[str]]:
    """LINEAR_MODELS copies of the rig's linear model and TREE_MODELS of one gradient-boosted
    model on all ten features, each promoted under a name of its own."""
    spec = TrainingSpec("hist_gradient_boosting")
    tree = train(load_diabetes(DIABETES_FEATURES), "bench-tree", spec).artifact
    linear = [f"bench-linear-{i:02d}" for i in range(1, LINEAR_MODELS + 1)]
    trees = [f"bench-tree-{i:02d}" for i in range(1, TREE_MODELS + 1)]
    with contextlib.closing(system.storage_client()) as client:
        registry: Registry = system.registry(client)
        for names, artifact in ((linear, model), (trees, tree)):
            for name in names:
                registered = registry.register(dataclasses.replace(artifact, name=name))
                registry.promote(name, registered.version)
    return linear, trees


def _first_load(url: str, model: str, body: bytes = b'{"instances": [[0.05]]}') -> float:
    """Milliseconds of the first request to `model`."""
    client = http_batch.BatchClient(url, f"/predict?model={model}")
    try:
        began = time.perf_counter()
        client.post(body, JSON)
        return (time.perf_counter() - began) * 1000
    finally:
        client.close()


def _loads(system: Any, url: str, linear: list[str], trees: list[str]) -> dict[str, Any]:
    """The first request to each model, and the worker's memory it adds, by kind."""
    worker = (system.worker_pids(SERVER) or [system.children[SERVER].pid])[0]
    wide = orjson.dumps({"instances": [[0.01] * len(DIABETES_FEATURES)]})
    figures: dict[str, Any] = {"models": {"linear": len(linear), "tree": len(trees)}}
    before = _rss_kib(worker)
    times = [_first_load(url, name) for name in linear]
    figures["linear_first_request_ms"] = [round(ms, 2) for ms in times]
    figures["linear_kib_per_model"] = round((_rss_kib(worker) - before) / len(linear))
    # The first tree imports onnx and onnxruntime: its memory apart, the others' per model.
    before = _rss_kib(worker)
    times = [_first_load(url, trees[0], wide)]
    after_first = _rss_kib(worker)
    times += [_first_load(url, name, wide) for name in trees[1:]]
    figures["tree_first_request_ms"] = [round(ms, 2) for ms in times]
    figures["tree_first_kib"] = after_first - before
    figures["tree_kib_per_model"] = round((_rss_kib(worker) - after_first) / (len(trees) - 1))
    return figures


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


class _Rotating:
    """A bench.load.LoadGenerator: run(name + /predict) sends each request of that load to
    the next path of the name's paths, through wrk and bench/models.lua."""

    def __init__(self, url: str, paths: Mapping[str, list[str]]) -> None:
        generator = load.load_generator()
        if not isinstance(generator, load.Wrk):
            raise RuntimeError("many models in turn need wrk (make bench installs it)")
        self.wrk, self.url, self.paths = generator, url, paths

    def describe(self) -> dict[str, object]:
        return {**self.wrk.describe(), "script": ROTATE_SCRIPT.name}

    def run(self, url: str, connections: int, seconds: float) -> load.LoadResult:
        env = {
            "PEERS_POST_LUA": str(load.SCRIPT),
            "PEERS_BODY": load.BODY.decode(),
            "BENCH_PATHS": " ".join(self.paths[url.removesuffix(single.PATH)]),
        }
        return self.wrk.run(self.url, connections, seconds, ROTATE_SCRIPT, env)


def _rotation(url: str, linear: list[str], plan: single.Plan) -> dict[str, Any]:
    paths = {
        "one_model": [f"/predict?model={linear[0]}"],
        "models_in_turn": [f"/predict?model={name}" for name in linear],
    }
    plan = dataclasses.replace(plan, concurrency=(CONCURRENCY[-1],))
    measured = single.measure(_Rotating(url, paths), {name: name for name in paths}, plan)
    one, turns = (measured[name]["req_per_s"][0] for name in paths)
    return {
        "concurrency": CONCURRENCY[-1],
        "one_model_req_per_s": one,
        "models_in_turn_req_per_s": turns,
        "in_turn_over_one": round(turns / one, 3),
        "errors": sum(measured[name]["errors"][0] for name in paths),
    }


def _open_inference(running: rig.Rig, url: str, plan: single.Plan) -> dict[str, Any]:
    model = running.model
    v2_path = f"/v2/models/{model.name}/infer"
    one = load.BODY
    v2_one = orjson.dumps({"inputs": [_tensor([[0.05]])]})
    targets = {
        "predict": Target(url + single.PATH, one),
        "v2_infer": Target(url + v2_path, v2_one),
        "floor": Target(running.system.url("floor") + single.PATH, one),
    }
    plan = dataclasses.replace(plan, concurrency=CONCURRENCY)
    with rig.pubsub_elsewhere(running.system):
        singles = single.measure(Routed(targets), {name: name for name in targets}, plan)
    floor = singles["floor"]["req_per_s"]
    ratios = {
        name: [
            round(rate / f, 3) for rate, f in zip(singles[name]["req_per_s"], floor, strict=True)
        ]
        for name in ("predict", "v2_infer")
    }
    return {
        "concurrency": list(CONCURRENCY),
        **{f"{name}_req_per_s": singles[name]["req_per_s"] for name in targets},
        **{f"{name}_over_floor": ratio for name, ratio in ratios.items()},
        "v2_over_predict": [
            round(v2 / own, 3)
            for v2, own in zip(ratios["v2_infer"], ratios["predict"], strict=True)
        ],
        f"batch_{BATCH_ROWS // 1000}k_rows_per_s": _batches(url, v2_path, model.features),
    }


def _tensor(rows: list[list[float]] | np.ndarray, binary: bool = False) -> dict[str, Any]:
    shape = list(np.shape(rows))
    if not binary:
        return {"name": "x", "datatype": "FP64", "shape": shape, "data": np.ravel(rows).tolist()}
    size = int(np.prod(shape)) * 8
    return {
        "name": "x",
        "datatype": "FP64",
        "shape": shape,
        "parameters": {"binary_data_size": size},
    }


def _batches(url: str, v2_path: str, features: tuple[str, ...]) -> dict[str, int]:
    """Rows/s of BATCH_ROWS rows each way, BATCH_TRIALS of each in turn, medians."""
    rows = payload(BATCH_ROWS, features)
    X = np.asarray(orjson.loads(rows.json)["instances"], dtype=np.float64)
    header = orjson.dumps(
        {
            "inputs": [_tensor(X, binary=True)],
            "outputs": [{"name": "predict", "parameters": {"binary_data": True}}],
        }
    )
    ways: dict[
        str, tuple[str, bytes, dict[str, str], Callable[[bytes, Mapping[str, str]], int]]
    ] = {
        "predict_json": (single.PATH, rows.json, {"Content-Type": JSON}, _predictions),
        "v2_json": (v2_path, orjson.dumps({"inputs": [_tensor(X)]}), {}, _outputs),
        "v2_binary": (
            v2_path,
            header + X.astype("<f8").tobytes(),
            {"Content-Type": OCTET_STREAM, "Inference-Header-Content-Length": str(len(header))},
            _binary_outputs,
        ),
    }
    trials: dict[str, list[float]] = {name: [] for name in ways}
    clients = {name: http_batch.BatchClient(url, path) for name, (path, *_) in ways.items()}
    try:
        for name, (_, body, headers, count) in ways.items():  # each checked, and warm
            answered, answer_headers = clients[name].exchange(body, headers)
            if count(answered, answer_headers) != BATCH_ROWS:
                raise RuntimeError(f"{name}: not {BATCH_ROWS} predictions")
        for _ in range(BATCH_TRIALS):
            for name, (_, body, headers, _count) in ways.items():
                trials[name].append(_rate(clients[name], body, headers))
    finally:
        for client in clients.values():
            client.close()
    return {name: round(median(rates)) for name, rates in trials.items()}


def _rate(client: http_batch.BatchClient, body: bytes, headers: Mapping[str, str]) -> float:
    count, began = 0, time.perf_counter()
    while count == 0 or time.perf_counter() - began < http_batch.TRIAL_SECONDS:
        client.exchange(body, headers)
        count += 1
    return count * BATCH_ROWS / (time.perf_counter() - began)


def _predictions(answer: bytes, headers: Mapping[str, str]) -> int:
    return len(orjson.loads(answer)["predictions"])


def _outputs(answer: bytes, headers: Mapping[str, str]) -> int:
    return len(orjson.loads(answer)["outputs"][0]["data"])


def _binary_outputs(answer: bytes, headers: Mapping[str, str]) -> int:
    length = int(headers["inference-header-content-length"])
    size = orjson.loads(answer[:length])["outputs"][0]["parameters"]["binary_data_size"]
    return len(np.frombuffer(answer[length : length + size], dtype="<f8"))
