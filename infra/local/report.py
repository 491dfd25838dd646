"""What `make run` prints: where everything listens, logs and lives, for a person to use."""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from pathlib import Path

from infra import names
from infra.local.cloud import FAKE_GCS_SERVER, PUBSUB_EMULATOR, LocalCloud
from infra.local.first_model import ServedModel
from infra.local.processes import Child
from infra.local.samples import STREAM_BODY
from infra.local.serving import Function, PushSubscription


def cloud(cloud: LocalCloud, seconds: float) -> None:
    config = cloud.config
    print(f"local cloud up in {seconds:.1f} s")
    print(f"  Pub/Sub emulator  {config.pubsub_host:<24}{_process(cloud, PUBSUB_EMULATOR)}")
    print(f"  Cloud Storage     {config.storage_url:<24}{_process(cloud, FAKE_GCS_SERVER)}")
    where = "in memory" if config.storage_root is None else f"under {show(config.storage_root)}"
    print(f"  bucket            {config.bucket} (objects {where})")


def model(served: ServedModel, storage_root: Path | None) -> None:
    alias = names.SERVING_ALIAS
    if served.trained:
        r2 = f", held-out R² {served.r2:.3f}" if served.r2 is not None else ""
        print(
            f"model {served.model}: registry empty; trained version {served.version}{r2}, "
            f"promoted it to {alias} in {served.seconds:.1f} s"
        )
        return
    versions = ", ".join(str(version) for version in served.versions)
    where = f" under {show(storage_root)}" if storage_root is not None else ""
    print(
        f"model {served.model}: reused the registry{where}: {alias} is version "
        f"{served.version} (versions: {versions})"
    )


def functions(running: list[Function], children: Mapping[str, Child], missing: list[str]) -> None:
    print("functions")
    for function in running:
        child = children[function.name]
        print(f"  {function.name:<16}{function.url:<24}pid {child.pid}, log {show(child.log_path)}")
    if missing:
        print(f"  not in main.py yet, so not started: {', '.join(missing)}")


def topics_and_subscriptions(pushes: list[PushSubscription]) -> None:
    print("topics")
    print(f"  {', '.join(names.TOPICS)}")
    print("push subscriptions")
    for push in pushes:
        if push.endpoint is None:
            print(f"  {push.name:<28}not created: {push.function} is not in main.py yet")
            continue
        dead_letter = (
            f", dead letters to {push.dead_letter_topic}" if push.dead_letter_topic else ""
        )
        print(f"  {push.name:<28}{push.topic} -> {push.endpoint}{dead_letter}")
    print("pull subscriptions")
    for subscription, topic in names.PULL_SUBSCRIPTIONS.items():
        print(f"  {subscription:<28}{topic}")


def sample_prediction(url: str, body: str) -> None:
    print("sample prediction")
    # -g: curl would read the brackets as a URL range.
    print(f"  $ curl -g {shlex.quote(url)}")
    print(f"  {body.strip()}")


def model_examples(model: str, examples: list[tuple[str, str]]) -> None:
    print(f"model {model}: POST /predict?model={model}, and the Open Inference Protocol")
    for command, answer in examples:
        print(f"  $ {command}")
        print(f"  {answer}")


def sample_stream(request_id: str, result: str) -> None:
    print("sample stream request")
    print(
        f"  $ python -m mlctl publish '{json.dumps(STREAM_BODY['instances'])}' "
        f"--request-id {request_id}"
    )
    print(f"  {result.strip()}")


def environment(cloud: LocalCloud) -> None:
    print("to use the emulators from another shell")
    exports = " ".join(f"{key}={shlex.quote(value)}" for key, value in sorted(cloud.env().items()))
    print(f"  export {exports}")


def upload_instructions(cloud: LocalCloud, model: str) -> None:
    """How to feed retrain: the bundled data exported, uploaded two ways, its outcome read."""
    config = cloud.config
    destination = f"gs://{config.bucket}/{names.incoming_prefix(model)}"
    overrides = {
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_STORAGE": f"{config.storage_url}/",
        "CLOUDSDK_AUTH_DISABLE_CREDENTIALS": "true",
        "CLOUDSDK_CORE_PROJECT": config.project_id,
    }
    gcloud_env = " ".join(f"{key}={value}" for key, value in overrides.items())
    print("upload a dataset (with the export above): retrain validates, trains, gates, promotes")
    print("  $ python -m mlctl export --out diabetes.csv      # or any CSV: features + target")
    print("  $ python -m mlctl upload diabetes.csv")
    print(f"  $ {gcloud_env} gcloud storage cp diabetes.csv {destination}")
    print(f"  $ python -m mlctl events --count 1              # from {names.MODEL_EVENTS_SUB}")


def feedback_instructions(url: str) -> None:
    """How to label a prediction: its X-Request-Id names it (docs/feedback.md)."""
    json_header = "-H 'Content-Type: application/json'"
    print("label predictions: join_feedback joins each label with its prediction, once")
    print(
        f"  $ curl -s {json_header} -H 'X-Request-Id: my-1' "
        f"-d '{{\"instances\": [[0.05], [0.07]]}}' {url}/predict"
    )
    labels = '{"request_id": "my-1", "labels": [151, 171]}'
    print(f"  $ curl -s {json_header} -d '{labels}' {url}/feedback")
    print("  $ python -m mlctl feedback --status")


def show(path: Path) -> str:
    """path relative to the working directory when it is under it: shorter to read."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _process(cloud: LocalCloud, name: str) -> str:
    if name in cloud.reused:
        return "reused: it was already running"
    return f"pid {cloud.pids()[name]}, log {show(cloud.log_path(name))}"
