"""HTTP to the local system: every scenario's requests go out on loopback only."""

from __future__ import annotations

import requests


def session() -> requests.Session:
    """A keep-alive session that never goes through a proxy from the environment (a proxy
    would not reach the functions' loopback ports); the caller closes it."""
    session = requests.Session()
    session.trust_env = False
    return session
