"""The functions of main.py called in this process, as functions-framework serves them."""

from __future__ import annotations

from pathlib import Path

from functions_framework import create_app
from starlette.testclient import TestClient

MAIN = str(Path(__file__).resolve().parents[1] / "main.py")


def function_client(target: str) -> TestClient:
    """An ASGI function's app (the framework's Starlette app) behind Starlette's test client."""
    return TestClient(create_app(target, MAIN))
