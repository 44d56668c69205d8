"""The one paired-difference test: a paired t-test at 5 %, checked against scipy's ttest_rel and by hand."""

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from crossclr_lab.experiments.stats import (
    MIN_SEEDS,
    critical_t,
    format_difference,
    judgement,
    paired_difference,
    significance_note,
)


@pytest.mark.parametrize("seed", range(5))
def test_matches_scipy_paired_t_test(seed):
    rng = np.random.default_rng(seed)
    n = 3 + seed
    a, b = rng.normal(10, 3, n), rng.normal(9, 3, n)
    d = paired_difference(a.tolist(), b.tolist())
    ref = scipy_stats.ttest_rel(a, b)
    assert d["t"] == pytest.approx(ref.statistic) and d["p"] == pytest.approx(ref.pvalue)
    assert d["sem"] == pytest.approx(np.std(a - b, ddof=1) / math.sqrt(n))
    lo, hi = scipy_stats.t.interval(0.95, n - 1, loc=d["mean"], scale=d["sem"])
    assert (d["ci_low"], d["ci_high"]) == pytest.approx((lo, hi))
    assert d["beyond_noise"] == (ref.pvalue < 0.05) == (d["ci_low"] > 0 or d["ci_high"] < 0)


def test_two_sem_is_not_enough_with_few_seeds():
    # the example: mean 1.3, sem 0.6 over 5 seeds passes the old 2·sem rule but p ≈ 0.096
    diffs = np.array([-0.5, 0.5, 0.0, 0.5, -0.5]) * 0.6 / (np.std([-0.5, 0.5, 0, 0.5, -0.5], ddof=1) / math.sqrt(5))
    d = paired_difference((diffs + 1.3).tolist(), [0.0] * 5)
    assert d["mean"] == pytest.approx(1.3) and d["sem"] == pytest.approx(0.6)
    assert abs(d["mean"]) > 2 * d["sem"] and not d["beyond_noise"]
    assert d["p"] == pytest.approx(0.096, abs=0.001)
    assert critical_t(5) == pytest.approx(2.776, abs=1e-3) and critical_t(3) == pytest.approx(4.303, abs=1e-3)


def test_edge_cases():
    same = paired_difference([11.0, 31.0, 51.0], [10.0, 30.0, 50.0])   # constant +1: std 0, certain
    assert same["std"] == 0 and same["p"] == 0 and same["beyond_noise"]
    zero = paired_difference([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    assert zero["p"] == 1 and not zero["beyond_noise"]
    few = paired_difference([20.0, 10.0], [10.0, 10.0 - 1e-9])
    assert few["n"] < MIN_SEEDS and not few["beyond_noise"]
    one = paired_difference([2.0], [1.0])
    assert math.isnan(one["p"]) and not one["beyond_noise"] and format_difference(one) == "+1.0 (n/a) p=n/a"
    with pytest.raises(ValueError, match="one score per seed"):
        paired_difference([1.0, 2.0], [1.0])


def test_cell_note_and_judgement():
    d = paired_difference([12.0, 14.0, 19.0], [10.0, 11.0, 15.0])
    assert format_difference(d) == f"+3.0 (0.6) p={d['p']:.3f} *"
    note = significance_note(5, 10)
    assert "2.78" in note and "10 differences" in note and "0.5 star" in note and "Bonferroni" in note
    assert "nothing" in significance_note(2, 4)
    w = paired_difference([8.0, 9.0, 7.0], [11.0, 12.0, 11.0])
    assert judgement({"R@1": w}, {"R@1": False}, 3) == "worse beyond seed noise"
    assert judgement({"R@1": w, "R@5": zero_diff()}, {"R@1": False, "R@5": True}, 3) == (
        "worse on R@1 beyond seed noise; the rest within it")
    assert judgement({"R@1": w}, {"R@1": False}, 2).startswith("too few seeds")


def zero_diff():
    return paired_difference([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
