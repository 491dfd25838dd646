from __future__ import annotations

import numpy as np
import pytest

from infra.names import MODEL_NAME
from model.dataset import Dataset, DatasetError, holdout_split, load_diabetes, read_csv, to_csv
from model.gate import MIN_R2, decide
from model.training import ValidationFailed, train
from model.validation import validate


def dataset(X, y, features=("bmi",)) -> Dataset:
    return Dataset(tuple(features), np.asarray(X, dtype=float), np.asarray(y, dtype=float))


def test_csv_round_trip_keeps_the_fingerprint():
    original = load_diabetes(("bmi", "bp"))
    parsed = read_csv(to_csv(original))
    assert parsed.features == ("bmi", "bp")
    assert parsed.fingerprint() == original.fingerprint()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("bmi,y\n1,2\n", "no 'target'"),
        ("bmi,bmi,target\n1,1,2\n", "repeats"),
        ("target\n1\n", "no feature columns"),
        ("bmi,target\n1\n", "line 2: 1 cells"),
        ("bmi,target\n1,x\n", "line 2, column 'target': not a number"),
    ],
)
def test_bad_csv_is_named(text, message):
    with pytest.raises(DatasetError, match=message):
        read_csv(text)


def test_validation_lists_every_problem():
    X = np.array([[1.0], [np.nan], [3.0]])
    report = validate(dataset(X, [5, 5, 5]), expected_features=("bp",), min_rows=10)
    assert not report.ok
    joined = " | ".join(report.errors)
    for part in (
        "do not match the model's features",
        "3 rows, at least 10",
        "'bmi': 1 missing",
        "constant",
    ):
        assert part in joined


def test_values_far_from_the_reference_are_flagged_not_refused():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 1))
    X[0, 0] = 50.0
    report = validate(
        dataset(X, rng.normal(size=100)), reference={"bmi": {"mean": 0.0, "std": 1.0}}
    )
    assert report.ok
    assert report.warnings == [
        "column 'bmi': 1 values more than 6 standard deviations from the training reference"
    ]


def test_training_refuses_invalid_data():
    with pytest.raises(ValidationFailed, match="at least 30"):
        train(dataset(np.arange(10.0).reshape(-1, 1), np.arange(10.0)), "m")


def test_gate_needs_the_minimum_r2_and_to_beat_production():
    split = holdout_split(load_diabetes())
    good = train(load_diabetes(), MODEL_NAME).artifact
    first = decide(good, split.holdout, production=None)
    assert first.promote
    assert first.candidate_r2 >= MIN_R2
    same = decide(good, split.holdout, production=good.with_version(1))
    assert not same.promote
    assert "does not beat production version 1" in same.reasons[0]
    rng = np.random.default_rng(0)
    noise = dataset(rng.normal(size=(200, 1)), rng.normal(size=200))
    weak = train(noise, MODEL_NAME).artifact
    decision = decide(weak, holdout_split(noise).holdout, production=None)
    assert not decision.promote
    assert "below the minimum" in decision.reasons[0]
