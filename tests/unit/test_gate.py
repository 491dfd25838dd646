"""The promotion gate: the threshold, the comparison on the same rows, and its reasons."""

from __future__ import annotations

import numpy as np
import pytest

from infra import names
from model.dataset import Dataset, holdout_split, load_diabetes
from model.gate import MIN_R2, decide
from model.training import train


def synthetic(slope: float, noise: float, rows: int = 200, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 0.05, size=rows)
    return Dataset(("bmi",), x.reshape(-1, 1), slope * x + 150 + rng.normal(0, noise, rows))


def test_the_first_version_needs_only_the_threshold():
    good = train(load_diabetes(), names.MODEL_NAME).artifact
    decision = decide(good, holdout_split(load_diabetes()).holdout, production=None)
    assert decision.promote
    assert decision.candidate_r2 >= MIN_R2
    assert decision.reasons == [
        f"candidate R² {decision.candidate_r2:.4f} on 20 held-out rows ≥ 0.4",
        "first version of the model: no production version to beat",
    ]
    assert decision.production_metrics is None
    assert decision.candidate_metrics["rows"] == 20


def test_a_candidate_that_only_ties_production_is_rejected():
    good = train(load_diabetes(), names.MODEL_NAME).artifact
    decision = decide(good, holdout_split(load_diabetes()).holdout, good.with_version(1))
    assert not decision.promote
    r2 = f"{decision.candidate_r2:.4f}"
    assert decision.reasons == [
        f"candidate R² {r2} does not beat production version 1 (R² {r2}) on the same 20 rows",
        f"candidate R² {r2} on 20 held-out rows ≥ 0.4",
    ]


def test_a_stronger_relation_beats_production_on_the_same_rows():
    production = train(load_diabetes(), "m").artifact.with_version(1)
    strong = synthetic(slope=2000, noise=5)
    candidate = train(strong, "m").artifact
    decision = decide(candidate, holdout_split(strong).holdout, production)
    assert decision.promote
    assert decision.production_metrics is not None
    assert decision.candidate_r2 > 0.9 > decision.production_r2
    assert decision.reasons[1].startswith(f"candidate R² {decision.candidate_r2:.4f} beats ")


def test_noise_is_rejected_with_both_r2_values():
    production = train(load_diabetes(), "m").artifact.with_version(1)
    noise = synthetic(slope=0, noise=50)
    candidate = train(noise, "m").artifact
    decision = decide(candidate, holdout_split(noise).holdout, production)
    assert not decision.promote
    joined = " ".join(decision.reasons)
    assert f"{decision.candidate_r2:.4f}" in joined
    assert f"{decision.production_r2:.4f}" in joined
    assert "is below the minimum 0.4" in decision.reasons[0]


def test_other_features_cannot_be_compared():
    production = train(load_diabetes(("bp",)), "m").artifact.with_version(4)
    candidate = train(load_diabetes(), "m").artifact
    decision = decide(candidate, holdout_split(load_diabetes()).holdout, production)
    assert not decision.promote
    assert decision.reasons[0] == (
        "production version 4 uses features ['bp'], the candidate ['bmi']"
    )


@pytest.mark.parametrize("slope", [0.0, 500.0, 3000.0])
def test_the_decision_follows_the_numbers(slope):
    data = synthetic(slope=slope, noise=20)
    candidate = train(data, "m").artifact
    decision = decide(candidate, holdout_split(data).holdout, None)
    assert decision.promote == (decision.candidate_r2 >= MIN_R2)
