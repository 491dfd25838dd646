"""The registry against fake-gcs-server: immutability, races, compare-and-swap, checksums."""

from __future__ import annotations

import http.client
import http.server
import json
import socket
import threading
import urllib.parse

import pytest
from google.api_core import exceptions as api_exceptions

from infra.local.processes import LOOPBACK
from infra.names import MODEL_NAME as MODEL
from model.artifact import ONNX_FILE, IntegrityError, ModelArtifact
from model.dataset import load_diabetes
from model.estimator import TrainingSpec
from model.gcs import storage_client
from model.registry import AliasConflict, AliasNotFound, Registry, VersionNotFound, version_path
from model.training import train

pytestmark = pytest.mark.emulators


def test_versions_count_up_from_one_with_model_report_and_plot(
    registry, trained_artifact, gcs, bucket
):
    first = registry.register(trained_artifact, {"metrics": trained_artifact.metrics}, b"\x89PNG")
    second = registry.register(trained_artifact, {"metrics": trained_artifact.metrics}, b"\x89PNG")
    assert (first.version, second.version) == (1, 2)
    assert registry.versions(MODEL) == [1, 2]
    names = sorted(blob.name for blob in gcs.list_blobs(bucket))
    assert names == [
        f"models/{MODEL}/versions/{v}/{f}"
        for v in (1, 2)
        for f in ("model.json", "report.json", "report.png")
    ]
    report = registry.report(MODEL, 2)
    assert report["version"] == 2
    assert report["metrics"]["r2"] == pytest.approx(trained_artifact.metrics["r2"])
    assert registry.load(MODEL, 2).version == 2


def test_a_version_can_never_be_overwritten(registry, trained_artifact, gcs, bucket):
    registry.register(trained_artifact, {})
    blob = gcs.bucket(bucket).blob(version_path(MODEL, 1))
    with pytest.raises(api_exceptions.PreconditionFailed):
        blob.upload_from_string(b"{}", if_generation_match=0)
    assert registry.load(MODEL, 1) == trained_artifact.with_version(1)


def test_concurrent_trainers_get_distinct_versions(local_cloud, gcs, bucket, trained_artifact):
    trainers = 8
    results: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(trainers)

    def register(seed: int) -> None:
        # Each thread has its own registry and client, like separate trainer processes.
        own = Registry(local_cloud.storage_client(), bucket)
        artifact = trained_artifact.with_version(0)
        start.wait()
        try:
            results.append(own.register(artifact, {"trainer": seed}).version)
        except BaseException as error:  # collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=register, args=(i,)) for i in range(trainers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert sorted(results) == list(range(1, trainers + 1))
    registry = Registry(gcs, bucket)
    for version in results:
        stored = registry.load(MODEL, version)
        assert stored.version == version
        # Each version's report was written by the trainer that owns the version.
        assert registry.report(MODEL, version)["version"] == version


def test_alias_moves_only_by_compare_and_swap(registry, trained_artifact):
    registry.register(trained_artifact, {})
    registry.register(trained_artifact, {})
    assert registry.alias(MODEL, "production") is None
    first = registry.set_alias(MODEL, "production", 1, expected=None)
    # A second writer that also saw "no alias" loses.
    with pytest.raises(AliasConflict):
        registry.set_alias(MODEL, "production", 2, expected=None)
    moved = registry.set_alias(MODEL, "production", 2, expected=first)
    # A writer holding the stale read loses too, and nothing changes.
    with pytest.raises(AliasConflict):
        registry.set_alias(MODEL, "production", 1, expected=first)
    current = registry.alias(MODEL, "production")
    assert current.version == 2
    assert current.generation == moved.generation
    assert current.document["previous_version"] == 1


def test_racing_promotions_leave_exactly_one_winner(registry, trained_artifact):
    for _ in range(4):
        registry.register(trained_artifact, {})
    seen = registry.set_alias(MODEL, "production", 1, expected=None)
    outcomes: list[str] = []
    start = threading.Barrier(3)

    def promote(version: int) -> None:
        start.wait()
        try:
            registry.set_alias(MODEL, "production", version, expected=seen)
            outcomes.append(f"won {version}")
        except AliasConflict:
            outcomes.append("lost")

    threads = [threading.Thread(target=promote, args=(v,)) for v in (2, 3, 4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    winners = [o for o in outcomes if o.startswith("won")]
    assert len(winners) == 1
    assert outcomes.count("lost") == 2
    assert f"won {registry.alias(MODEL, 'production').version}" == winners[0]


def test_promote_and_rollback(registry, trained_artifact):
    for _ in range(3):
        registry.register(trained_artifact, {})
    registry.promote(MODEL, 1)
    registry.promote(MODEL, 3)
    assert registry.rollback(MODEL).version == 1
    assert registry.rollback(MODEL, to_version=2).version == 2
    assert registry.aliases(MODEL) == {"production": 2}


def test_aliases_must_point_at_existing_versions(registry, trained_artifact):
    registry.register(trained_artifact, {})
    with pytest.raises(VersionNotFound):
        registry.promote(MODEL, 7)
    with pytest.raises(AliasNotFound):
        registry.rollback(MODEL, alias="staging")


def test_a_tampered_artifact_is_refused(registry, trained_artifact, gcs, bucket):
    registry.register(trained_artifact, {})
    blob = gcs.bucket(bucket).blob(version_path(MODEL, 1))
    document = json.loads(blob.download_as_bytes())
    document["bias"] += 1.0
    blob.upload_from_string(json.dumps(document))  # an operator bypassing the registry
    with pytest.raises(IntegrityError, match="does not match"):
        registry.load(MODEL, 1)


@pytest.fixture(scope="module")
def tree() -> ModelArtifact:
    spec = TrainingSpec("hist_gradient_boosting", {"max_iter": 10})
    return train(load_diabetes(("bmi", "bp")), MODEL, spec).artifact


def test_a_tree_version_is_its_graph_then_its_manifest(registry, tree, gcs, bucket):
    registered = registry.register(tree)
    assert registered.version == 1
    blobs = {blob.name: blob for blob in gcs.list_blobs(bucket)}
    graph = blobs[version_path(MODEL, 1, ONNX_FILE)]
    manifest = blobs[version_path(MODEL, 1)]
    assert set(blobs) == {graph.name, manifest.name}
    # Generations are creation times: the graph existed before model.json registered it.
    assert graph.generation < manifest.generation
    assert graph.download_as_bytes() == tree.files()[ONNX_FILE]
    assert registry.load(MODEL, 1).to_document() == registered.to_document()


def test_a_dead_trainers_graph_is_passed_over_and_never_a_version(registry, tree, gcs, bucket):
    leftover = gcs.bucket(bucket).blob(version_path(MODEL, 1, ONNX_FILE))
    leftover.upload_from_string(b"the first bytes of a graph")  # its trainer died here
    assert (registry.versions(MODEL), registry.models()) == ([], [])
    registered = registry.register(tree)
    assert registered.version == 2
    assert (registry.versions(MODEL), registry.models()) == ([2], [MODEL])
    assert leftover.download_as_bytes() == b"the first bytes of a graph"  # left as it was
    with pytest.raises(VersionNotFound):
        registry.load(MODEL, 1)
    assert registry.load(MODEL, 2).files() == tree.files()


def test_unknown_versions_are_not_found(registry):
    with pytest.raises(VersionNotFound):
        registry.load(MODEL, 1)
    assert registry.versions(MODEL) == []


class AnswerDroppingProxy(http.server.ThreadingHTTPServer):
    """Forwards every request to fake-gcs-server, but drops the answer to the first upload of
    an alias after it has landed: the client sees its connection closed, as when a network
    fails between a write and its answer."""

    def __init__(self, target: str) -> None:
        super().__init__((LOOPBACK, 0), _Forward)
        self.target = urllib.parse.urlsplit(target)
        self.dropped = 0
        self.uploads = 0

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.server_address[1]}"


class _Forward(http.server.BaseHTTPRequestHandler):
    server: AnswerDroppingProxy

    def _forward(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        target = self.server.target
        connection = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
        connection.request(self.command, self.path, body, headers)
        answer = connection.getresponse()
        data = answer.read()
        connection.close()
        if self.path.startswith("/upload/") and b"/aliases/" in body:
            self.server.uploads += 1
            if self.server.dropped == 0:
                self.server.dropped += 1
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
        self.send_response(answer.status)
        for key, value in answer.getheaders():
            if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._forward()

    def do_POST(self) -> None:
        self._forward()

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_an_alias_move_whose_answer_is_lost_is_still_this_move(
    local_cloud, bucket, registry, trained_artifact
):
    # The write lands, its answer is lost, the client retries under the same precondition and
    # is refused (412): the registry must report the move it made, not a conflict.
    registry.register(trained_artifact, {})
    registry.register(trained_artifact, {})
    first = registry.promote(MODEL, 1)
    proxy = AnswerDroppingProxy(local_cloud.config.storage_url)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        through_proxy = Registry(storage_client("local-ml", proxy.url), bucket, timeout=10)
        moved = through_proxy.set_alias(MODEL, "production", 2, expected=first)
    finally:
        proxy.shutdown()
        proxy.server_close()
    assert proxy.dropped == 1  # the answer to the write was lost,
    assert proxy.uploads == 2  # and the write retried
    assert moved.version == 2
    current = registry.alias(MODEL, "production")
    assert (current.version, current.generation) == (2, moved.generation)
    assert current.document["previous_version"] == 1
