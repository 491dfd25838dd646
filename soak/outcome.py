"""What a scenario reports: its figures (counts, rates, times) and the targets it missed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Outcome:
    """Figures go into soak/results.json as they are; a miss fails `make soak`."""

    figures: dict[str, Any] = field(default_factory=dict)
    misses: list[str] = field(default_factory=list)

    def expect(self, held: bool, target: str) -> bool:
        """Record target as missed unless held; whether it held."""
        if not held:
            self.misses.append(target)
        return held

    @property
    def passed(self) -> bool:
        return not self.misses

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "misses": self.misses, "figures": self.figures}
