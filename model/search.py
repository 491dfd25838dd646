"""The search over families and their parameters (docs/evaluation.md, "Search").

Optuna's TPE sampler, seeded, proposes a family and its parameters from each family's default
space; every candidate is scored by the same repeated k-fold cross-validation on the rows
that are not the test split (model/evaluation.py), and the winner is the best mean R². The
test split plays no part. `budget` candidates and `time_budget` seconds bound the search;
with the time to spare, the same data and seed give the same leaderboard.

A search flatters its winner: among many candidates scored on the same folds, the best is
partly the luckiest. The winner is therefore scored again on fresh folds (another seed, the
same scheme); the difference is reported as `optimism`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from model.estimator import TrainingSpec
from model.evaluation import CrossValidation, CvScheme, cross_validate
from model.families import FAMILIES, FamilyError

DEFAULT_BUDGET = 30
DEFAULT_TIME_BUDGET = 45.0  # seconds: `mlctl train --search` on 442 rows ends within a minute
# Another seed for the winner's fresh folds: far from any seed a user would pick next.
_FRESH_FOLDS = 1_000_003

Suggest = Callable[[Any], dict[str, Any]]  # an Optuna trial -> parameters


def _linear(trial: Any) -> dict[str, Any]:
    return {}


def _ridge(trial: Any) -> dict[str, Any]:
    return {"alpha": trial.suggest_float("ridge.alpha", 1e-3, 1e3, log=True)}


def _lasso(trial: Any) -> dict[str, Any]:
    return {"alpha": trial.suggest_float("lasso.alpha", 1e-3, 1e2, log=True)}


def _elastic_net(trial: Any) -> dict[str, Any]:
    return {
        "alpha": trial.suggest_float("elastic_net.alpha", 1e-3, 1e2, log=True),
        "l1_ratio": trial.suggest_float("elastic_net.l1_ratio", 0.05, 0.95),
    }


def _hist_gradient_boosting(trial: Any) -> dict[str, Any]:
    name = "hist_gradient_boosting."
    return {
        "learning_rate": trial.suggest_float(name + "learning_rate", 0.01, 0.3, log=True),
        "max_iter": trial.suggest_int(name + "max_iter", 30, 300, log=True),
        "max_leaf_nodes": trial.suggest_int(name + "max_leaf_nodes", 4, 31),
        "min_samples_leaf": trial.suggest_int(name + "min_samples_leaf", 5, 60, log=True),
        "l2_regularization": trial.suggest_float(name + "l2_regularization", 1e-6, 10, log=True),
    }


def _random_forest(trial: Any) -> dict[str, Any]:
    name = "random_forest."
    return {
        "n_estimators": trial.suggest_int(name + "n_estimators", 30, 200, log=True),
        "max_depth": trial.suggest_int(name + "max_depth", 2, 16),
        "min_samples_leaf": trial.suggest_int(name + "min_samples_leaf", 1, 30, log=True),
        "max_features": trial.suggest_float(name + "max_features", 0.2, 1.0),
    }


# Each family's default space: scikit-learn's parameter names, ranges that suit standardised
# (linear) or raw (trees) features of tabular data from hundreds to a million rows.
SPACES: dict[str, Suggest] = {
    "linear": _linear,
    "ridge": _ridge,
    "lasso": _lasso,
    "elastic_net": _elastic_net,
    "hist_gradient_boosting": _hist_gradient_boosting,
    "random_forest": _random_forest,
}


@dataclass(frozen=True)
class SearchSettings:
    families: tuple[str, ...] = tuple(FAMILIES)
    budget: int = DEFAULT_BUDGET
    time_budget: float | None = DEFAULT_TIME_BUDGET
    cv: CvScheme = field(default_factory=CvScheme)

    def checked(self) -> SearchSettings:
        unknown = [name for name in self.families if name not in SPACES]
        if unknown or not self.families:
            raise FamilyError(f"--families {list(self.families)}: use some of {list(SPACES)}")
        if self.budget < 1 or (self.time_budget is not None and self.time_budget <= 0):
            raise FamilyError("a search needs a budget of at least 1 and a positive time budget")
        return self


@dataclass(frozen=True)
class Candidate:
    family: str
    params: dict[str, Any]
    cross_validation: CrossValidation
    predict_us_per_row: float

    def as_dict(self) -> dict[str, Any]:
        r2 = self.cross_validation.metrics["r2"]
        return {
            "family": self.family,
            "params": self.params,
            "cv_r2_mean": r2.mean,
            "cv_r2_std": r2.std,
            "cv_r2_scores": list(r2.scores),
            "fit_seconds": self.cross_validation.fit_seconds,
            "predict_us_per_row": self.predict_us_per_row,
        }


@dataclass(frozen=True)
class SearchResult:
    leaderboard: list[Candidate]  # best first, each family and parameters once
    winner_fresh: CrossValidation  # the winner on fresh folds
    settings: SearchSettings
    seconds: float
    stopped_by: str  # "budget" or "time"

    @property
    def winner(self) -> Candidate:
        return self.leaderboard[0]

    def spec(self, seed: int) -> TrainingSpec:
        return TrainingSpec(self.winner.family, self.winner.params, seed)

    def as_dict(self) -> dict[str, Any]:
        searched = self.winner.cross_validation.metrics["r2"].mean
        fresh = self.winner_fresh.metrics["r2"].mean
        return {
            "families": list(self.settings.families),
            "budget": self.settings.budget,
            "time_budget": self.settings.time_budget,
            "cv": str(self.settings.cv),
            "candidates": len(self.leaderboard),
            "seconds": round(self.seconds, 3),
            "stopped_by": self.stopped_by,
            "winner_cv_r2": searched,
            "winner_fresh_cv_r2": fresh,
            "optimism": searched - fresh,
        }


def search(X: Any, y: Any, settings: SearchSettings, seed: int) -> SearchResult:
    """The candidates of `settings` scored on X, y; the leaderboard, best first."""
    import optuna

    settings = settings.checked()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    scored: dict[str, Candidate] = {}

    def objective(trial: Any) -> float:
        family = trial.suggest_categorical("family", list(settings.families))
        params = SPACES[family](trial)
        key = json.dumps([family, params], sort_keys=True)
        if key not in scored:  # a family without parameters is proposed more than once
            cv = cross_validate(family, params, X, y, settings.cv, seed)
            scored[key] = Candidate(family, params, cv, cv.predict_us_per_row)
        return scored[key].cross_validation.metrics["r2"].mean

    began = time.monotonic()
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=settings.budget, timeout=settings.time_budget)
    seconds = time.monotonic() - began
    finished = len(study.trials)
    leaderboard = sorted(
        scored.values(), key=lambda c: c.cross_validation.metrics["r2"].mean, reverse=True
    )
    best = leaderboard[0]
    fresh = cross_validate(best.family, best.params, X, y, settings.cv, seed + _FRESH_FOLDS)
    return SearchResult(
        leaderboard,
        fresh,
        settings,
        seconds,
        "budget" if finished >= settings.budget else "time",
    )


def parse_families(text: str | None) -> tuple[str, ...]:
    if not text:
        return tuple(FAMILIES)
    return tuple(name.strip() for name in text.split(",") if name.strip())


def top(leaderboard: Sequence[Candidate], count: int) -> list[dict[str, Any]]:
    return [candidate.as_dict() for candidate in leaderboard[:count]]
