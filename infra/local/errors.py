"""The local cloud's errors (stdlib only: prerequisites.py raises them before the venv exists)."""

from __future__ import annotations


class LocalCloudError(Exception):
    """The local cloud could not start, or a process of it stopped unexpectedly."""


class MissingPrerequisite(LocalCloudError):
    """A program pip cannot install is missing; the message is one line saying how to get it."""
