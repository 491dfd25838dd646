"""How fast this CPU runs plain Python right now: the same loop, timed before each step.

Shared machines (and their hosts) change speed under us; a step measured while the
loop ran slow says so in results.json, next to the step's numbers.
"""

from __future__ import annotations

import time

_ITEMS = list(range(1000))
_ROUNDS = 20
_CALLS = 200


def python_loop_us() -> float:
    """The fastest of a few rounds of sum() over 1,000 ints, in microseconds (≈7 on an idle
    core of the reference machine)."""
    best = float("inf")
    for _ in range(_ROUNDS):
        began = time.perf_counter()
        for _ in range(_CALLS):
            sum(_ITEMS)
        best = min(best, (time.perf_counter() - began) / _CALLS * 1e6)
    return round(best, 2)
