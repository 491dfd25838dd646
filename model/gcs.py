"""A Cloud Storage client that also works against the local emulator."""

from __future__ import annotations

import os

from google.api_core import exceptions as api_exceptions
from google.api_core.retry import Retry
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


def create_if_absent(
    bucket: storage.Bucket,
    path: str,
    data: bytes,
    content_type: str,
    timeout: float,
    retry: Retry,
    metadata: dict[str, str] | None = None,
) -> bool:
    """Create the object only if absent (`ifGenerationMatch=0`, which also makes a retried
    create safe); False when it is there already."""
    blob = bucket.blob(path)
    if metadata:
        blob.metadata = metadata
    try:
        blob.upload_from_string(
            data, content_type=content_type, if_generation_match=0, timeout=timeout, retry=retry
        )
    except api_exceptions.PreconditionFailed:
        return False
    return True
