"""A rollout judged on labels: is the candidate better than production on reality?
(docs/rollout.md)

Each labelled row keeps the instance's features, and both versions' artifacts predict
deterministically, so both are scored on every labelled row of the rollout, whichever
version answered it: a paired comparison, as the promotion gate makes on the test split,
with the gate's resamples and confidence. The candidate is promoted when it is better with
that confidence, the rollout aborted when it is worse with it, and otherwise it goes on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from model.artifact import ModelArtifact
from model.gate import GateSettings, share_better

Decision = Literal["promote", "abort", "wait"]
# Below this many labelled rows no decision is taken: the gate's resamples of a few rows
# swing with single rows (docs/rollout.md).
MIN_LABELS = 100


@dataclass(frozen=True)
class Judgement:
    decision: Decision
    reasons: list[str]
    rows: int
    candidate_rmse: float | None = None
    production_rmse: float | None = None
    better_share: float | None = None  # of resamples in which the candidate wins
    served: dict[str, int] = field(default_factory=dict)  # labelled rows by version answering

    def as_dict(self) -> dict[str, Any]:
        return {
            "decision": self.decision,
            "reasons": self.reasons,
            "rows": self.rows,
            "candidate_rmse": self.candidate_rmse,
            "production_rmse": self.production_rmse,
            "better_share": self.better_share,
            "served": self.served,
        }


def judge(
    rows: Sequence[dict[str, Any]],
    candidate: ModelArtifact,
    production: ModelArtifact,
    settings: GateSettings,
    min_labels: int = MIN_LABELS,
) -> Judgement:
    """Both versions on the labelled rows of the rollout (`rows`, as the join wrote them)."""
    usable = [row for row in rows if tuple(row["feature_names"]) == candidate.features]
    served: dict[str, int] = {}
    for row in usable:
        served[str(row["version"])] = served.get(str(row["version"]), 0) + 1
    if candidate.features != production.features:
        reason = (
            f"version {candidate.version} uses features {list(candidate.features)}, "
            f"production version {production.version} {list(production.features)}: not comparable"
        )
        return Judgement("wait", [reason], len(usable), served=served)
    if len(usable) < min_labels:
        reason = f"{len(usable)} labelled rows of the rollout; a decision needs {min_labels}"
        return Judgement("wait", [reason], len(usable), served=served)
    features = np.array([row["features"] for row in usable], dtype=np.float64)
    labels = np.array([row["label"] for row in usable], dtype=np.float64)
    candidate_errors = (labels - candidate.predict(features)) ** 2
    production_errors = (labels - production.predict(features)) ** 2
    share = share_better(candidate_errors, production_errors, settings)
    candidate_rmse = float(np.sqrt(candidate_errors.mean()))
    production_rmse = float(np.sqrt(production_errors.mean()))
    needed = settings.confidence
    if share >= needed:
        decision: Decision = "promote"
    elif 1 - share >= needed:
        decision = "abort"
    else:
        decision = "wait"
    reason = (
        f"on {len(usable)} labelled rows, version {candidate.version} RMSE {candidate_rmse:.2f} "
        f"against production version {production.version} {production_rmse:.2f}: better in "
        f"{share:.0%} of {settings.resamples:,} paired resamples (promote at {needed:.0%}, "
        f"abort at {1 - needed:.0%} or less)"
    )
    return Judgement(
        decision, [reason], len(usable), candidate_rmse, production_rmse, share, served
    )
