"""A Cloud Storage client that also works against the local emulator."""

from __future__ import annotations

import os

from google.auth.credentials import AnonymousCredentials
from google.cloud import storage


def storage_client(project: str) -> storage.Client:
    """The emulator (STORAGE_EMULATOR_HOST) needs no credentials; the cloud uses ADC."""
    if os.environ.get("STORAGE_EMULATOR_HOST"):
        return storage.Client(project=project, credentials=AnonymousCredentials())
    return storage.Client(project=project)
