"""Gate and promotion against fake-gcs-server: a lost compare-and-swap compares again; the
report a promotion writes."""

from __future__ import annotations

import io
import math

import pytest
from PIL import Image

from infra import names
from model.dataset import holdout_split, load_diabetes
from model.evaluation import CvScheme
from model.promotion import gate_and_promote, read_production, train_register_promote
from model.registry import version_path
from model.search import SearchSettings
from model.training import Protocol, train
from model.validation import validate_csv
from tests import datasets

pytestmark = pytest.mark.emulators
MODEL = names.MODEL_NAME


def candidate(registry, body: bytes):
    dataset, _ = validate_csv(body)
    run = train(dataset, MODEL)
    return registry.register(run.artifact), holdout_split(dataset).holdout


def test_a_promotion_that_lost_the_race_is_compared_with_the_winner(registry):
    train_register_promote(registry, load_diabetes(), MODEL)
    stale = read_production(registry, MODEL)  # what the slower trainer read: version 1
    slow, slow_holdout = candidate(registry, datasets.stronger(seed=1, noise=1))
    fast, fast_holdout = candidate(registry, datasets.stronger(seed=2, noise=30))
    won = gate_and_promote(registry, fast, fast_holdout, read_production(registry, MODEL))
    assert (won.promoted, won.decision.production_version) == (True, 1)

    late = gate_and_promote(registry, slow, slow_holdout, stale)

    assert late.decision.production_version == fast.version  # not the version 1 it read
    assert late.decision.production_metrics is not None
    alias = registry.alias(MODEL, "production")
    if late.promoted:
        assert (alias.version, alias.document["previous_version"]) == (slow.version, fast.version)
    else:
        assert alias.version == fast.version
        assert f"production version {fast.version}" in late.decision.reasons[0]


def test_a_candidate_already_serving_keeps_its_decision(registry):
    """An attempt died after promoting: resuming rebuilds the decision, moves nothing."""
    train_register_promote(registry, load_diabetes(), MODEL)
    new, holdout = candidate(registry, datasets.stronger())
    first = gate_and_promote(registry, new, holdout, read_production(registry, MODEL))
    generation = registry.alias(MODEL, "production").generation

    again = gate_and_promote(registry, new, holdout, read_production(registry, MODEL))

    assert (again.promoted, again.serving_version) == (True, new.version)
    assert again.decision == first.decision
    assert registry.alias(MODEL, "production").generation == generation


def test_a_searched_version_reports_its_leaderboard_and_learning_curve(registry):
    tiny = SearchSettings(families=("linear", "ridge"), budget=4, time_budget=None)
    dataset = load_diabetes(("bmi", "bp", "s5"))
    promotion = train_register_promote(
        registry, dataset, MODEL, protocol=Protocol(cv=CvScheme(2, 1)), search=tiny
    )
    version = promotion.model.version

    report = registry.report(MODEL, version)
    board = report["leaderboard"]
    means = [entry["cv_r2_mean"] for entry in board]
    assert means == sorted(means, reverse=True)
    assert {entry["family"] for entry in board} <= {"linear", "ridge"}
    assert (board[0]["family"], board[0]["params"]) == (
        promotion.model.family,
        promotion.model.params,
    )
    assert all(len(entry["cv_r2_scores"]) == 2 for entry in board)  # 2 folds, 1 repeat
    curve = report["evaluation"]["learning_curve"]
    train_rows = report["lineage"]["train_rows"]
    assert curve["folds"] == 2
    assert curve["sizes"] == sorted(set(curve["sizes"]))
    assert curve["sizes"][-1] == train_rows - math.ceil(train_rows / 2)  # a fold's training rows
    assert len(curve["train_r2_mean"]) == len(curve["validation_r2_mean"]) == len(curve["sizes"])
    assert curve["validation_r2_mean"][-1] > 0.2  # three diabetes features do predict

    png = registry.bucket.blob(version_path(MODEL, version, "report.png")).download_as_bytes()
    with Image.open(io.BytesIO(png)) as image:
        assert (image.format, image.size) == ("PNG", (1200, 1160))  # with the leaderboard table
