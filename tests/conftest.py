"""Shared fixtures: the real emulators on free ports, one uuid-named bucket per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

import pytest
from google.cloud import storage

from functions.platform import logs, runtime
from infra import names
from infra.local.cloud import LocalCloud
from infra.local.system import LocalSystem
from model.dataset import load_diabetes
from model.registry import Registry
from model.training import train

MODEL = names.MODEL_NAME


@pytest.fixture(autouse=True)
def _restore_environment() -> Iterator[None]:
    """Each test may change the environment and the process-wide state; undo both."""
    saved = dict(os.environ)
    runtime.reset()
    logs.flush()  # lines queued by earlier tests go out now, not into this test's capture
    yield
    os.environ.clear()
    os.environ.update(saved)
    runtime.reset()


@pytest.fixture(scope="session")
def local_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    """The Pub/Sub emulator and fake-gcs-server, started once for the whole session."""
    with LocalCloud.on_free_ports(tmp_path_factory.mktemp("local-cloud-logs")) as cloud:
        yield cloud


@pytest.fixture
def start_system(local_cloud: LocalCloud, tmp_path: Path) -> Iterator[Callable[..., LocalSystem]]:
    """Start a whole system of the test's own (infra/local/system.py) on the session's Pub/Sub
    emulator: its own fake-gcs-server, bucket, suffixed topics and the functions asked for,
    stopped at the test's end. start_system(functions=None (all), env=None,
    storage_root=None, first_model=True, other_models=()) -> LocalSystem."""
    started: list[LocalSystem] = []

    def start(
        functions: Iterable[str] | None = None,
        *,
        env: Mapping[str, str] | None = None,
        storage_root: Path | None = None,
        first_model: bool = True,
        other_models: Iterable[str] = (),
    ) -> LocalSystem:
        system = LocalSystem.on_free_ports(
            tmp_path / f"system-{len(started)}",
            shared_pubsub=local_cloud.config.pubsub_host,
            storage_root=storage_root,
            env=env,
        )
        started.append(system)
        return system.start(functions, first_model=first_model, other_models=other_models)

    yield start
    for system in reversed(started):
        system.stop()


@pytest.fixture(scope="session")
def gcs(local_cloud: LocalCloud) -> storage.Client:
    return local_cloud.storage_client()


@pytest.fixture
def bucket(gcs: storage.Client) -> Iterator[str]:
    """A fresh bucket, so tests never see each other's models."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    created = gcs.create_bucket(name)
    yield name
    for blob in gcs.list_blobs(name):
        blob.delete()
    created.delete()


@pytest.fixture
def registry(gcs: storage.Client, bucket: str) -> Registry:
    return Registry(gcs, bucket, timeout=5.0)


@pytest.fixture
def serving_env(local_cloud: LocalCloud, bucket: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point the functions (in this process) at the emulators and the test's bucket."""
    for key, value in local_cloud.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MODEL_BUCKET", bucket)
    monkeypatch.setenv("MODEL_NAME", MODEL)
    runtime.reset()
    return bucket


@pytest.fixture
def production(registry: Registry, trained_artifact):
    """The first model as version 1 of the test's bucket, promoted: what the functions serve."""
    registry.register(trained_artifact, {})
    registry.promote(MODEL, 1)
    return trained_artifact.with_version(1)


@pytest.fixture(scope="session")
def trained_artifact():
    """A trained, unregistered first model (training is deterministic, so share it)."""
    return train(load_diabetes(), MODEL).artifact


@pytest.fixture(scope="session")
def repository_root() -> Path:
    return Path(__file__).resolve().parents[1]
