"""A large batch does not stall the small requests served beside it (docs/performance.md).

predict_batch's requests share one event loop. A 100,000-row batch is decoded, predicted
and encoded on a worker thread, so a health probe sent while it is being computed is
answered before it; with every request on the loop (OFFLOAD_BYTES above the body), the
probe waits for the batch. The bound is an order, not a time, so it holds on any machine:
the batch computes for tens of milliseconds, the probe for a fraction of one.
"""

from __future__ import annotations

import asyncio

import httpx2
import numpy as np
import orjson
import pytest
from functions_framework import create_app

from tests.clients import MAIN

pytestmark = pytest.mark.emulators

ROWS = 100_000


async def _finishing_order(app) -> list[str]:
    body = orjson.dumps({"instances": np.linspace(-0.1, 0.1, ROWS).reshape(-1, 1).tolist()})
    finished: list[str] = []
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://function") as client:
        assert (await client.get("/model")).status_code == 200  # the model loaded

        async def batch() -> None:
            headers = {"Content-Type": "application/json"}
            answer = await client.post("/predict", content=body, headers=headers)
            assert len(answer.json()["predictions"]) == ROWS
            finished.append("batch")

        async def probe() -> None:
            await asyncio.sleep(0)  # the batch has started
            assert (await client.get("/health")).status_code == 200
            finished.append("probe")

        await asyncio.gather(batch(), probe())
    return finished


@pytest.mark.parametrize(
    ("offload_bytes", "order"),
    [("65536", ["probe", "batch"]), (str(2**62), ["batch", "probe"])],
    ids=["offloaded", "on the loop"],
)
def test_a_probe_beside_a_large_batch_waits_for_it_only_on_the_loop(
    serving_env, production, monkeypatch, offload_bytes, order
):
    monkeypatch.setenv("OFFLOAD_BYTES", offload_bytes)
    assert asyncio.run(_finishing_order(create_app("predict_batch", MAIN))) == order
