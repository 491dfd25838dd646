"""Every model family side by side: each trained on the same rows, registered as a version of
the rig's model and served by the running predict_batch, pinned by `?version=N`.

For each family: one-instance req/s at one concurrency, its trials in turn with the
framework floor's and the other families' (bench/single.py; each request's body is built
for the features, sent through bench/peers/routed.py's wrk script); 10,000-row JSON batches
through HTTP, in turn with scikit-learn's own predict and the artifact's on the same rows in
this process; the artifact's stored bytes and its load from the registry. Then what a tree
adds to a process's cold start and to the install (bench/onnx_cost.py).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import orjson
from threadpoolctl import threadpool_limits

from bench import http_batch, onnx_cost, rig, single
from bench.batches import TRIALS
from bench.payloads import Payload, payload
from bench.peers.routed import Routed, Target
from bench.timing import median, repeat, throughput
from model.artifact import LINEAR_FORMAT, ModelArtifact
from model.dataset import DIABETES_FEATURES, load_diabetes
from model.estimator import TrainingSpec
from model.families import FAMILIES
from model.registry import Registry
from model.training import train

# All ten features of the diabetes data, for every family: its whole width, so the trees
# have every column to split on and the one-instance body is the widest this data makes.
FEATURES = DIABETES_FEATURES
CONCURRENCY = 8  # one level: where http_single's ratio to the floor is read most often
BATCH_ROWS = 10_000
LOAD_TRIALS = 5
FLOOR = "floor"
JSON = "application/json"
ANSWER_TOLERANCE = 1e-9  # the same artifact on the same floats: equal but for rounding
# In this process, scikit-learn and the artifact predict on one thread, as onnxruntime serves
# (model/onnx_graph.py): HistGradientBoosting's OpenMP would otherwise take both cores.
IN_PROCESS_THREADS = 1


def measure(running: rig.Rig, plan: single.Plan) -> dict[str, Any]:
    """{"families": figures by family, "families_setup": how, "onnx_cost": what a tree adds}."""
    dataset = load_diabetes(FEATURES)
    with contextlib.closing(running.system.storage_client()) as client:
        registry = running.system.registry(client)
        runs = {name: train(dataset, running.model.name, TrainingSpec(name)) for name in FAMILIES}
        models = {name: registry.register(run.artifact) for name, run in runs.items()}
        load_ms = {name: _load_ms(registry, model) for name, model in models.items()}
    predict = running.system.url("predict_batch")
    one = payload(1, FEATURES).json
    for model in models.values():
        _check_pinned(predict, model, one)
    floor = Target(running.system.url(FLOOR) + single.PATH, one)
    singles = _one_instance(running, models, floor, plan)
    rows = payload(BATCH_ROWS, FEATURES)
    families = {
        name: {
            "version": model.version,
            "format": model.format,
            "r2": round(model.metrics["r2"], 4),
            **_single_figures(singles, name),
            **_rows_per_s(predict, model, runs[name].pipeline.predict, rows),
            "artifact_bytes": len(model.to_json()) + sum(map(len, model.files().values())),
            "load_ms": load_ms[name],
        }
        for name, model in models.items()
    }
    trees = {name: model for name, model in models.items() if model.format != LINEAR_FORMAT}
    env = {**running.system.cloud.env(), **running.system.env}
    return {
        "families": families,
        "families_setup": {
            "features": list(FEATURES),
            "params": "scikit-learn's defaults (TrainingSpec(family)), seed 0",
            "train_rows": dataset.rows - runs["linear"].split.holdout.rows,
            "concurrency": CONCURRENCY,
            "floor": singles[FLOOR],
            "batch_rows": BATCH_ROWS,
            "in_process_threads": IN_PROCESS_THREADS,
        },
        "onnx_cost": onnx_cost.measure(trees, env),
    }


def _load_ms(registry: Registry, model: ModelArtifact) -> float:
    """Registry.load from the emulator, after one untimed load: the first of a tree imports
    onnx and onnxruntime, which onnx_cost times in a fresh interpreter."""
    load = functools.partial(registry.load, model.name, model.version)
    load()
    return round(median(repeat(load, LOAD_TRIALS, 0.0)) * 1000, 2)


def _check_pinned(url: str, model: ModelArtifact, body: bytes) -> None:
    """The pinned URL is answered by that version, with its artifact's prediction."""
    client = http_batch.BatchClient(url, _pinned(model))
    try:
        answer = orjson.loads(client.post(body, JSON))
    finally:
        client.close()
    expected = model.predict(np.asarray(orjson.loads(body)["instances"], dtype=np.float64))
    same = np.allclose(answer["predictions"], expected, rtol=ANSWER_TOLERANCE, atol=0)
    if answer["model"]["version"] != model.version or not same:
        raise RuntimeError(f"{model.family} version {model.version} was answered with {answer}")


def _one_instance(
    running: rig.Rig, models: Mapping[str, ModelArtifact], floor: Target, plan: single.Plan
) -> dict[str, dict[str, Any]]:
    """single.measure at CONCURRENCY over the families and the floor, named: Routed sends
    each name its own URL and body."""
    predict = running.system.url("predict_batch")
    targets = {name: Target(predict + _pinned(model), floor.body) for name, model in models.items()}
    targets[FLOOR] = floor
    plan = dataclasses.replace(plan, concurrency=(CONCURRENCY,))
    with rig.pubsub_elsewhere(running.system):  # as for http_single, so the two compare
        return single.measure(Routed(targets), {name: name for name in targets}, plan)


def _single_figures(singles: Mapping[str, dict[str, Any]], name: str) -> dict[str, Any]:
    ours, floor, linear = singles[name], singles[FLOOR], singles["linear"]
    rate, floor_rate = ours["req_per_s"][0], floor["req_per_s"][0]
    return {
        "single_req_per_s": rate,
        "floor_req_per_s": floor_rate,
        "single_over_floor": round(rate / floor_rate, 3),
        # What this family costs the server per request beyond a linear one (one worker
        # saturated at this concurrency: its seconds per request are 1 / req/s).
        "single_us_over_linear": round(1e6 / rate - 1e6 / linear["req_per_s"][0], 1),
        "single_p50_ms": ours["p50_ms"][0],
        "single_p99_ms": ours["p99_ms"][0],
        "single_errors": ours["errors"][0],
        "single_req_per_s_trials": ours["req_per_s_trials"][0],
    }


def _rows_per_s(
    url: str, model: ModelArtifact, sklearn_predict: Callable[[np.ndarray], Any], rows: Payload
) -> dict[str, int]:
    """Rows/s through HTTP, by scikit-learn's predict and by the artifact in this process:
    TRIALS of each in turn, medians."""
    X = np.asarray(orjson.loads(rows.json)["instances"], dtype=np.float64)
    client = http_batch.BatchClient(url, _pinned(model))
    try:
        http_batch.check(client, rows.json, JSON, rows.rows)  # and warm up
        calls = {
            "batch_10k_rows_per_s": functools.partial(client.post, rows.json, JSON),
            "sklearn_rows_per_s": functools.partial(sklearn_predict, X),
            "artifact_rows_per_s": functools.partial(model.predict, X),
        }
        trials: dict[str, list[float]] = {key: [] for key in calls}
        with threadpool_limits(IN_PROCESS_THREADS):
            for call in calls.values():
                call()  # warm up
            for _ in range(TRIALS):
                for key, call in calls.items():
                    trials[key] += throughput(call, rows.rows, 1, http_batch.TRIAL_SECONDS)
    finally:
        client.close()
    return {key: round(median(rates)) for key, rates in trials.items()}


def _pinned(model: ModelArtifact) -> str:
    return f"{single.PATH}?version={model.version}"
