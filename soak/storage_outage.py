"""Cloud Storage unreachable for a while: fake-gcs-server stopped, so every connection to it
is refused (as when the service or the route to it is down), then started again on the same
port over the same filesystem root, so every object survives the outage.

The system must have been started with a storage_root (soak.system.running); an in-memory
fake-gcs-server would come back empty.
"""

from __future__ import annotations

import time

from infra.local.cloud import (
    FAKE_GCS_SERVER,
    STORAGE_START_TIMEOUT,
    LocalCloud,
    fake_gcs_server_command,
    wait_http_ok,
)
from infra.local.processes import terminate

_STOP_TIMEOUT = 10.0


class StorageOutage:
    """begin() stops Cloud Storage, end() brings it back; began and ended: when (wall clock)."""

    def __init__(self, cloud: LocalCloud) -> None:
        if cloud.config.storage_root is None:
            raise ValueError("a storage outage needs storage on disk (running(storage_root=...))")
        self._cloud = cloud
        self.began: float | None = None
        self.ended: float | None = None

    def begin(self) -> None:
        """Stop the running fake-gcs-server (the newest, after an earlier outage)."""
        (*_, server) = (c for c in self._cloud.children() if c.name.startswith(FAKE_GCS_SERVER))
        self.began = time.time()
        terminate(server.process, _STOP_TIMEOUT)

    def end(self) -> None:
        """Start fake-gcs-server again on its port (a child of the cloud, which stops it) and
        wait until it answers."""
        name = f"{FAKE_GCS_SERVER}-after-outage-{len(self._cloud.children())}"
        process = self._cloud.start_process(name, fake_gcs_server_command(self._cloud.config))
        wait_http_ok(
            f"{self._cloud.config.storage_url}/storage/v1/b", STORAGE_START_TIMEOUT, process
        )
        self.ended = time.time()
