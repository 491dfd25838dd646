"""A Cloud Storage client that also works against the local emulator."""

from __future__ import annotations

import os

from google.auth.credentials import AnonymousCredentials
from google.cloud import storage


def storage_client(project: str, emulator: str | None = None) -> storage.Client:
    """A client of the emulator at the URL emulator, else of STORAGE_EMULATOR_HOST's, without
    credentials; of Cloud Storage with the application default credentials otherwise."""
    url = emulator or os.environ.get("STORAGE_EMULATOR_HOST")
    if url:
        return storage.Client(
            project=project,
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
            client_options={"api_endpoint": url},
        )
    return storage.Client(project=project)
