"""PSI and KS against scipy and hand-computed cases; the reference bins they rest on."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import stats

from model import drift
from model.dataset import load_diabetes
from model.statistics import bin_counts, quantile_edges, reference_statistics


def test_psi_of_identical_counts_is_zero():
    assert drift.psi(np.array([40, 60, 100]), np.array([40, 60, 100])) == 0.0


def test_psi_by_hand():
    # Smoothed shares: reference (1.5/3, 1.5/3) = (.5, .5), serving (3.5/5, 1.5/5) = (.7, .3).
    expected = 0.2 * math.log(0.7 / 0.5) + (-0.2) * math.log(0.3 / 0.5)
    assert drift.psi(np.array([1, 1]), np.array([3, 1])) == pytest.approx(expected, abs=1e-12)
    assert expected == pytest.approx(0.169459, abs=1e-6)


def test_an_empty_serving_bin_counts_as_half_a_value():
    # Serving (0.5/5, 4.5/5) = (.1, .9) against reference (.5, .5): finite, and by hand.
    expected = -0.4 * math.log(0.1 / 0.5) + 0.4 * math.log(0.9 / 0.5)
    value = drift.psi(np.array([10, 10]), np.array([0, 4]))
    assert math.isfinite(value)
    assert value == pytest.approx(expected, abs=1e-12)
    assert value == pytest.approx(0.878890, abs=1e-6)


def test_the_empty_bin_weighs_less_as_more_values_arrive():
    """Smoothing fades with n, where an epsilon would not: 0 of 40 says less than 0 of 4,000."""
    few = drift.psi(np.array([100, 100]), np.array([0, 40]))
    many = drift.psi(np.array([100, 100]), np.array([0, 4000]))
    assert few < many


@given(
    arrays(np.int64, 6, elements=st.integers(0, 10_000)),
    arrays(np.int64, 6, elements=st.integers(0, 10_000)),
)
def test_psi_is_the_symmetric_kullback_leibler_divergence_of_scipy(reference, serving):
    r, s = drift.shares(reference), drift.shares(serving)
    expected = stats.entropy(s, r) + stats.entropy(r, s)
    assert drift.psi(reference, serving) == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_psi_needs_the_same_bins():
    with pytest.raises(ValueError, match="same bins"):
        drift.psi(np.array([1, 2]), np.array([1, 2, 3]))


def test_ks_by_hand_disjoint_samples():
    # Every serving value above every reference value: D = 1; exactly 2 of the C(5, 2) = 10
    # orderings are that extreme, so the exact two-sided p-value is 0.2.
    statistic, pvalue = drift.ks_test(np.array([1.0, 2.0, 3.0]), np.array([4.0, 5.0]))
    assert statistic == 1.0
    assert pvalue == pytest.approx(0.2)


def test_ks_of_a_single_value():
    # F_ref steps 1/3, 2/3, 1 at 1, 2, 3; F_serving jumps 0 -> 1 at 2: D = 1/3.
    statistic, pvalue = drift.ks_test(np.array([1.0, 2.0, 3.0]), np.array([2.0]))
    assert statistic == pytest.approx(1 / 3)
    assert pvalue == pytest.approx(stats.ks_2samp([1.0, 2.0, 3.0], [2.0]).pvalue)


def test_ks_of_equal_constant_inputs():
    assert drift.ks_test(np.full(50, 0.5), np.full(20, 0.5)) == (0.0, 1.0)


def test_ks_agrees_with_scipy_on_large_samples():
    rng = np.random.default_rng(3)
    reference, serving = rng.normal(0, 1, 500), rng.normal(0.3, 1, 5000)
    expected = stats.ks_2samp(reference, serving)
    assert drift.ks_test(reference, serving) == pytest.approx((expected.statistic, expected.pvalue))


def test_ks_needs_values():
    with pytest.raises(ValueError, match="both sides"):
        drift.ks_test(np.array([1.0]), np.array([]))


@given(arrays(np.float64, st.integers(1, 300), elements=st.floats(-1e6, 1e6)))
def test_reference_bins_are_never_empty(values):
    edges = quantile_edges(values)
    counts = bin_counts(edges, values)
    assert counts.sum() == values.size
    assert (counts > 0).all()
    assert (np.diff(edges) > 0).all()


def test_constant_and_single_values_keep_one_bin():
    assert quantile_edges(np.full(30, 2.0)).size == 0
    assert quantile_edges(np.array([7.0])).size == 0


def test_ties_merge_bins():
    values = np.array([0.0] * 8 + [1.0] * 2)
    edges = quantile_edges(values)
    assert bin_counts(edges, values).tolist() == [8, 2]


def test_bins_are_right_closed():
    assert bin_counts(np.array([1.0, 2.0]), np.array([1.0, 1.5, 2.0, 2.5])).tolist() == [1, 2, 1]


@pytest.fixture(scope="module")
def bmi_reference():
    X = load_diabetes().X[:-20]
    return X[:, 0], reference_statistics(X, ("bmi",))["bmi"]


def test_the_first_models_reference_has_deciles_of_the_training_values(bmi_reference):
    values, reference = bmi_reference
    counts = reference["bins"]["counts"]
    assert sum(counts) == values.size == 422
    assert len(counts) == 10
    assert all(30 <= count <= 55 for count in counts)  # deciles, give or take ties
    assert drift.has_drift_reference(reference)


def test_in_distribution_values_are_stable(bmi_reference):
    values, reference = bmi_reference
    serving = np.random.default_rng(0).choice(values, 2000)
    result = drift.compare_feature("bmi", reference, serving)
    assert result.psi < drift.PSI_WATCH
    assert result.psi_level == "stable"
    assert result.ks_pvalue > 0.05
    assert result.out_of_range_share == 0.0
    assert not result.alert


def test_values_shifted_by_two_std_drift(bmi_reference):
    values, reference = bmi_reference
    serving = np.random.default_rng(0).choice(values, 500) + 2 * reference["std"]
    result = drift.compare_feature("bmi", reference, serving)
    assert result.psi >= drift.PSI_ALERT
    assert result.psi_level == "drift"
    assert result.ks_pvalue < 1e-6
    assert result.mean_shift_in_std == pytest.approx(2.0, abs=0.2)
    assert result.out_of_range_share > 0.05  # the top of the training range is sparse
    assert result.alert


def test_too_few_values_never_alert(bmi_reference):
    values, reference = bmi_reference
    serving = values[:10] + 2 * reference["std"]
    result = drift.compare_feature("bmi", reference, serving, min_samples=100)
    assert result.psi >= drift.PSI_ALERT
    assert not result.enough_samples
    assert not result.alert


def test_a_constant_reference_sees_skew_through_the_range():
    reference = reference_statistics(np.full((50, 1), 3.0), ("x",))["x"]
    result = drift.compare_feature("x", reference, np.full(200, 4.0))
    assert result.psi == 0.0  # one bin: PSI cannot see it
    assert result.out_of_range_share == 1.0
    assert result.ks_statistic == 1.0
    assert result.mean_shift_in_std is None


def test_psi_levels():
    assert [drift.psi_level(v) for v in (0.0, 0.1, 0.19, 0.2, 3.0)] == [
        "stable",
        "watch",
        "watch",
        "drift",
        "drift",
    ]


def test_latency_percentiles_and_distribution():
    latencies = np.arange(1, 101, dtype=np.float64)
    assert drift.latency_percentiles(latencies) == {"p50": 50.5, "p95": 95.05, "p99": 99.01}
    assert drift.latency_percentiles(np.array([])) == {}
    spread = drift.distribution(np.array([1.0, 2.0, 3.0]))
    assert (spread["count"], spread["mean"], spread["min"], spread["max"]) == (3, 2.0, 1.0, 3.0)


@pytest.mark.parametrize(
    "reference",
    [
        None,
        {},
        {"mean": 0.0, "sample": [1.0]},  # registered before the bins
        {"bins": {"edges": [1.0], "counts": [3]}, "sample": [1.0]},  # counts do not fit
        {"bins": {"edges": [], "counts": [3]}, "sample": []},  # no KS sample
    ],
)
def test_what_is_not_a_drift_reference(reference):
    assert not drift.has_drift_reference(reference)
