"""`retrain` in this process with real CloudEvents, against both emulators."""

from __future__ import annotations

import base64
import io
import json
import uuid
from dataclasses import replace

import pytest
from cloudevents.http import CloudEvent
from PIL import Image

from functions.platform import logs
from functions.platform.errors import is_transient
from functions.training import retrain as retrain_function
from infra import names
from model.continuous_training import upload_of
from model.dataset import load_diabetes, seeded_split
from model.estimator import TrainingSpec
from model.promotion import train_register_promote
from model.registry import version_path
from model.rollout import read_rollout, start_rollout
from model.run_ledger import RunLedger, run_path
from model.training import train_on_split
from model.training_settings import read_settings, write_settings
from model.validation import validate_csv
from tests import datasets
from tests.clients import function_client
from tests.pubsub_helpers import pull, temporary_topic

pytestmark = pytest.mark.emulators
MODEL = names.MODEL_NAME


def png_size(gcs, bucket, version: int) -> tuple[int, int]:
    png = gcs.bucket(bucket).blob(version_path(MODEL, version, "report.png")).download_as_bytes()
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG"
        return image.size


@pytest.fixture
def events(local_cloud, serving_env, monkeypatch):
    """A model-events topic of this test's own; call it to read the events published."""
    with (
        temporary_topic(local_cloud, "model-events") as topic,
        local_cloud.pubsub_clients() as (
            _,
            subscriber,
        ),
    ):
        monkeypatch.setenv("MODEL_EVENTS_TOPIC", topic.name)

        def read(count: int = 1, timeout: float = 20.0) -> list[dict]:
            return [
                {"data": json.loads(m.data), "attributes": dict(m.attributes)}
                for m in pull(subscriber, topic.subscription, count, timeout)
            ]

        yield read


@pytest.fixture
def production(registry, serving_env):
    """Version 1, the first model, promoted."""
    outcome = train_register_promote(registry, load_diabetes(), MODEL)
    assert outcome.promoted
    return outcome.model


def upload(gcs, bucket: str, data: bytes, model: str = MODEL, name: str | None = None):
    blob = gcs.bucket(bucket).blob(f"datasets/{model}/incoming/{name or uuid.uuid4().hex}.csv")
    blob.upload_from_string(data, content_type="text/csv")
    return blob


def notification(blob, event_type: str = "OBJECT_FINALIZE") -> dict:
    """The Pub/Sub message fake-gcs-server (and Cloud Storage) publish for an object."""
    resource = {"bucket": blob.bucket.name, "name": blob.name, "generation": str(blob.generation)}
    return {
        "data": base64.b64encode(json.dumps(resource).encode()).decode(),
        "attributes": {
            "eventType": event_type,
            "bucketId": blob.bucket.name,
            "objectId": blob.name,
            "objectGeneration": str(blob.generation),
            "payloadFormat": "JSON_API_V1",
        },
        "messageId": uuid.uuid4().hex,
        "publishTime": "2026-11-29T00:00:00.000Z",
    }


def push_event(message: dict) -> CloudEvent:
    return CloudEvent(
        {
            "id": message["messageId"],
            "type": "google.cloud.pubsub.topic.v1.messagePublished",
            "source": "//pubsub.googleapis.com/projects/local-ml/topics/dataset-events",
            "specversion": "1.0",
        },
        {"message": message, "subscription": "projects/local-ml/subscriptions/dataset-events-push"},
    )


def storage_event(blob) -> CloudEvent:
    """Eventarc's direct Cloud Storage trigger: the object resource is the data."""
    return CloudEvent(
        {
            "id": uuid.uuid4().hex,
            "type": "google.cloud.storage.object.v1.finalized",
            "source": f"//storage.googleapis.com/projects/_/buckets/{blob.bucket.name}",
            "specversion": "1.0",
        },
        {"bucket": blob.bucket.name, "name": blob.name, "generation": str(blob.generation)},
    )


def assert_only_the_sentinel_follows(events, gcs, bucket) -> None:
    """Nothing was published before an upload handled after: its event comes alone (a
    bounded wait for something, instead of waiting out a timeout for nothing)."""
    sentinel = upload(gcs, bucket, b"", name=f"sentinel-{uuid.uuid4().hex[:6]}")
    retrain_function.handle(push_event(notification(sentinel)))
    received = events(count=1)
    assert [event["data"]["dataset"] for event in received] == [
        f"gs://{bucket}/{sentinel.name}#{sentinel.generation}"
    ]


def test_a_stronger_relation_is_promoted_with_its_report(events, production, registry, gcs, bucket):
    blob = upload(gcs, bucket, datasets.stronger())
    retrain_function.handle(push_event(notification(blob)))

    (event,) = events()
    dataset = f"gs://{bucket}/{blob.name}#{blob.generation}"
    assert event["attributes"] == {"event": "promoted", "model": MODEL, "version": "2"}
    data = event["data"]
    assert set(data) == {
        "event", "model", "version", "production_version", "dataset", "metrics", "reasons", "time",
        "rollout_ended", "trigger",
    }  # fmt: skip
    assert data["rollout_ended"] is None
    assert data["trigger"] is None  # a person's upload
    assert (data["event"], data["version"], data["production_version"]) == ("promoted", 2, 2)
    assert data["dataset"] == dataset
    assert data["metrics"]["candidate"]["r2"] > 0.9 > data["metrics"]["production"]["r2"]
    assert data["metrics"]["candidate"]["rows"] == data["metrics"]["production"]["rows"] == 88
    assert "beats production version 1" in data["reasons"][-1]
    assert data["time"].endswith("Z")
    assert registry.alias(MODEL, "production").version == 2

    report = registry.report(MODEL, 2)
    assert report["gate"]["decision"] == "promoted"
    assert report["gate"]["reasons"] == data["reasons"]
    assert report["gate"]["production_version"] == 1
    assert report["gate"]["candidate_metrics"] == data["metrics"]["candidate"]
    assert report["gate"]["production_metrics"] == data["metrics"]["production"]
    assert report["dataset"] == {
        "uri": f"gs://{bucket}/{blob.name}",
        "generation": str(blob.generation),
    }
    assert registry.load(MODEL, 2).lineage["dataset"] == report["dataset"]
    assert report["validation"]["ok"] is True
    assert report["validation"]["rows"] == 442
    assert report["evaluation"]["learning_curve"]["sizes"]
    assert png_size(gcs, bucket, 2) == (1200, 900)  # test split, folds, learning curve


def test_noise_is_rejected_and_production_stays(events, production, registry, gcs, bucket):
    blob = upload(gcs, bucket, datasets.noise())
    retrain_function.handle(push_event(notification(blob)))

    (event,) = events()
    data = event["data"]
    assert event["attributes"]["event"] == data["event"] == "rejected"
    assert (data["version"], data["production_version"]) == (2, 1)
    candidate_r2 = f"{data['metrics']['candidate']['r2']:.4f}"
    production_rmse = f"RMSE {data['metrics']['production']['rmse']:.1f} → "
    assert candidate_r2 in data["reasons"][0]
    assert "better than predicting their mean in" in data["reasons"][0]
    assert any(production_rmse in reason for reason in data["reasons"])
    assert registry.alias(MODEL, "production").version == 1
    assert registry.report(MODEL, 2)["gate"]["decision"] == "rejected"


@pytest.mark.parametrize("name", sorted(datasets.MALFORMED))
def test_malformed_data_registers_nothing(events, production, registry, gcs, bucket, name):
    body, reason = datasets.MALFORMED[name]
    blob = upload(gcs, bucket, body, name=name.removesuffix(".csv"))
    retrain_function.handle(push_event(notification(blob)))

    (event,) = events()
    data = event["data"]
    assert event["attributes"] == {"event": "invalid_data", "model": MODEL, "version": ""}
    assert (data["version"], data["production_version"]) == (None, 1)
    assert data["metrics"] == {"candidate": None, "production": None}
    assert any(reason in text for text in data["reasons"]), data["reasons"]
    assert registry.versions(MODEL) == [1]


def test_the_same_notification_twice_registers_one_version(
    events, production, registry, gcs, bucket
):
    blob = upload(gcs, bucket, datasets.stronger(seed=3))
    message = notification(blob)
    retrain_function.handle(push_event(message))
    retrain_function.handle(
        push_event({**message, "messageId": uuid.uuid4().hex})
    )  # a second delivery

    first, second = events(count=2)
    assert first == second  # the same outcome, published again
    assert registry.versions(MODEL) == [1, 2]


def test_a_new_model_is_gated_by_the_threshold_alone(events, registry, gcs, bucket, serving_env):
    blob = upload(gcs, bucket, datasets.other_features(), model="weather")
    retrain_function.handle(storage_event(blob))

    (event,) = events()
    assert event["data"]["event"] == "promoted"
    assert event["data"]["metrics"]["production"] is None
    assert (
        event["data"]["reasons"][-1] == "first version of the model: no production version to beat"
    )
    assert registry.load("weather", 1).features == ("temperature", "pressure")
    assert registry.alias("weather", "production").version == 1


@pytest.mark.parametrize(
    "name",
    ["datasets/diabetes-bmi/other/x.csv", "models/x.json", "datasets/diabetes-bmi/incoming/"],
)
def test_objects_outside_incoming_are_acknowledged_and_ignored(
    events, production, gcs, bucket, name, capsys
):
    blob = gcs.bucket(bucket).blob(name)
    blob.upload_from_string(b"bmi,target\n")
    retrain_function.handle(push_event(notification(blob)))  # returns: acknowledged
    assert_only_the_sentinel_follows(events, gcs, bucket)
    logs.flush()
    assert f"ignored: {name}" in capsys.readouterr().out


def test_other_event_types_and_buckets_are_ignored(events, production, gcs, bucket):
    blob = upload(gcs, bucket, datasets.stronger())
    retrain_function.handle(push_event(notification(blob, event_type="OBJECT_DELETE")))
    elsewhere = notification(blob)
    elsewhere["attributes"]["bucketId"] = "someone-elses-bucket"
    retrain_function.handle(push_event(elsewhere))
    assert_only_the_sentinel_follows(events, gcs, bucket)


def test_a_resumed_run_reuses_the_version_a_dead_attempt_registered(
    events, production, registry, gcs, bucket, monkeypatch
):
    monkeypatch.setenv("RETRAIN_LEASE_SECONDS", "0.5")
    body = datasets.stronger(seed=5)
    blob = upload(gcs, bucket, body)
    upload_ = upload_of(bucket, blob.name, blob.generation)
    # A first attempt claimed the run, registered version 2 and died before recording the
    # version anywhere but in its lineage: replay those steps with the same building blocks.
    RunLedger(gcs, bucket, lease_seconds=0.5).claim(
        run_path(MODEL, blob.name, blob.generation), upload_.dataset
    )
    dataset, validation = validate_csv(body)
    run = train_on_split(
        seeded_split(dataset, 0.2, 0),
        MODEL,
        None,
        validation,
        dataset.fingerprint(),
        {"dataset": {"uri": upload_.uri, "generation": str(blob.generation)}},
    )
    assert registry.register(run.artifact).version == 2

    retrain_function.handle(push_event(notification(blob)))  # waits out the lease, then takes over
    (event,) = events()
    assert (event["data"]["event"], event["data"]["version"]) == ("promoted", 2)
    assert registry.versions(MODEL) == [1, 2]
    record = json.loads(
        gcs.bucket(bucket).blob(run_path(MODEL, blob.name, blob.generation)).download_as_bytes()
    )
    assert (record["state"], record["attempts"], record["version"]) == ("done", 2, 2)
    # The run died with the first attempt: the report holds what the version alone shows.
    assert registry.report(MODEL, 2)["evaluation"] is None
    assert png_size(gcs, bucket, 2) == (1200, 450)  # the test split's two panels


def test_storage_down_fails_the_invocation_as_transient(serving_env, monkeypatch, capsys):
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://127.0.0.1:9")  # nothing listens
    monkeypatch.setenv("STORAGE_TIMEOUT_SECONDS", "1")
    message = {
        "data": "",
        "attributes": {
            "eventType": "OBJECT_FINALIZE",
            "bucketId": serving_env,
            "objectId": f"datasets/{MODEL}/incoming/x.csv",
            "objectGeneration": "1",
        },
        "messageId": "m-1",
    }
    with pytest.raises(Exception, match=r"127\.0\.0\.1.*9|Connection|connect") as caught:
        retrain_function.handle(push_event(message))
    assert is_transient(caught.value), repr(caught.value)
    logs.flush()
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    ours = f"gs://{serving_env}/datasets/{MODEL}/incoming/x.csv#1"  # not an earlier test's
    (line,) = [line for line in lines if line["message"].startswith(ours)]
    assert line["severity"] == "ERROR"
    assert line["transient"] is True
    assert line["message"].startswith(f"{ours}: transient failure, will be redelivered: ")


def test_push_and_eventarc_requests_through_the_framework(
    events, production, gcs, bucket, repository_root
):
    client = function_client("retrain")
    first = upload(gcs, bucket, datasets.MALFORMED["empty.csv"][0])
    response = client.post(
        "/projects/local-ml/topics/dataset-events",
        json={"message": notification(first), "subscription": "projects/p/subscriptions/s"},
    )
    assert response.status_code == 200
    second = upload(gcs, bucket, datasets.MALFORMED["three-rows.csv"][0])
    response = client.post(
        "/",
        json={"message": notification(second), "subscription": "projects/p/subscriptions/s"},
        headers={
            "ce-id": "e-1",
            "ce-specversion": "1.0",
            "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
            "ce-source": "//pubsub.googleapis.com/projects/local-ml/topics/dataset-events",
        },
    )
    assert response.status_code == 200
    published = {e["data"]["dataset"].split("#")[0]: e["data"]["event"] for e in events(count=2)}
    assert published == {
        f"gs://{bucket}/{first.name}": "invalid_data",
        f"gs://{bucket}/{second.name}": "invalid_data",
    }


def test_an_upload_trains_as_the_settings_say_else_as_production(
    events, registry, gcs, bucket, serving_env
):
    train_register_promote(registry, load_diabetes(), MODEL, TrainingSpec("ridge", {"alpha": 0.5}))
    retrain_function.handle(push_event(notification(upload(gcs, bucket, datasets.stronger()))))
    assert events()[0]["data"]["version"] == 2
    assert (registry.load(MODEL, 2).family, registry.load(MODEL, 2).params) == (
        "ridge",
        {"alpha": 0.5},
    )

    settings = read_settings(registry, MODEL).changed("random_forest", {"n_estimators": 5})
    write_settings(registry, MODEL, settings)
    retrain_function.handle(push_event(notification(upload(gcs, bucket, datasets.stronger()))))
    assert events()[0]["data"]["version"] == 3
    trees = registry.load(MODEL, 3)
    assert (trees.family, trees.params, trees.format) == (
        "random_forest",
        {"n_estimators": 5},
        "onnx",
    )


def test_an_upload_is_searched_when_the_settings_ask(events, registry, gcs, bucket, serving_env):
    train_register_promote(registry, load_diabetes(), MODEL)
    search = {"families": ["ridge", "lasso"], "budget": 3}
    write_settings(registry, MODEL, read_settings(registry, MODEL).changed(search=search))
    retrain_function.handle(push_event(notification(upload(gcs, bucket, datasets.stronger()))))
    assert events()[0]["data"]["version"] == 2
    report = registry.report(MODEL, 2)
    assert {row["family"] for row in report["leaderboard"]} <= {"ridge", "lasso"}
    assert registry.load(MODEL, 2).family == report["leaderboard"][0]["family"]
    assert report["evaluation"]["search"]["time_budget"] == 120.0


def test_a_promotion_during_a_rollout_ends_it_and_says_so(
    events, production, registry, gcs, bucket
):
    registry.register(replace(production, lineage={**production.lineage, "copy": True}))
    start_rollout(registry, MODEL, 2, 10.0)
    blob = upload(gcs, bucket, datasets.stronger())
    retrain_function.handle(push_event(notification(blob)))

    (event,) = events()
    assert (event["data"]["event"], event["data"]["version"]) == ("promoted", 3)
    assert event["data"]["rollout_ended"]["version"] == 2
    assert "the rollout of version 2 at 10% ended" in event["data"]["reasons"][-1]
    assert read_rollout(registry, MODEL) is None
