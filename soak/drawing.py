"""Examples drawn from a hypothesis strategy the same way on every run: derandomized (a seed
from the drawing function's digest), no example database, generation only (nothing fails,
so nothing shrinks). The same code draws the same inputs, so runs compare."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable

T = TypeVar("T")


def for_each(strategy: st.SearchStrategy[T], count: int, use: Callable[[T], None]) -> None:
    """Call use on up to count examples of strategy (fewer only if it has no more; none if
    it can make none, as schemathesis' negative mode for an operation without inputs)."""

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(example=strategy)
    def draw(example: T) -> None:
        use(example)

    try:
        draw()
    except Unsatisfiable:
        return
