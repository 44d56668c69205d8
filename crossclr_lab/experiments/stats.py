"""Paired differences over seeds: the one test behind every "beyond seed noise" (``*``) in the kit.

Two variants trained with the same seeds give per-seed scores ``a[s]`` and ``b[s]``; their differences
``d_s = a[s] − b[s]`` cancel the luck a seed gives both. A difference is *beyond seed noise* when a two-sided
paired t-test rejects "mean difference 0" at level ``ALPHA`` (5 %): ``|mean| / sem > t_crit``, the critical t for
``n − 1`` degrees of freedom (2.78 with 5 seeds, 4.30 with 3 — not 2). Tables print the p-value next to the
difference; :func:`significance_note` says how many differences a table tests and what that means.

Example::

    d = paired_difference([12.0, 14.0, 19.0], [10.0, 11.0, 15.0])
    d["mean"], d["sem"], d["p"], d["beyond_noise"]      # 3.0, 0.577, 0.035, True
    format_difference(d)                                # '+3.0 (0.6) p=0.035 *'
"""

from __future__ import annotations

import math
import statistics
from typing import Sequence

from scipy import stats as _scipy_stats

ALPHA = 0.05
MIN_SEEDS = 3  # below this the kit calls nothing beyond seed noise: a t-test with 1 dof has next to no power


def critical_t(n: int, alpha: float = ALPHA) -> float:
    """The two-sided critical t for ``n`` paired seeds (``n − 1`` degrees of freedom); ``inf`` for ``n < 2``."""
    return math.inf if n < 2 else float(_scipy_stats.t.ppf(1 - alpha / 2, n - 1))


def paired_difference(a: Sequence[float], b: Sequence[float], alpha: float = ALPHA) -> dict:
    """Paired two-sided t-test of ``a − b`` (same seeds, same order).

    Returns ``{"mean", "std", "sem", "n", "t", "p", "ci_low", "ci_high", "beyond_noise"}``: the mean, sample std
    (ddof=1) and standard error of the per-seed differences, the t statistic, its p-value (n − 1 dof), the
    ``1 − alpha`` confidence interval of the mean, and ``p < alpha`` with at least :data:`MIN_SEEDS` seeds.
    All-equal differences (std 0) give p = 0 when their mean is not 0, p = 1 when it is.
    """
    if len(a) != len(b) or not len(a):
        raise ValueError(f"a paired difference needs two equally long, non-empty score lists, got {len(a)} and "
                         f"{len(b)}: pass one score per seed for each variant, seeds in the same order")
    diffs = [float(x) - float(y) for x, y in zip(a, b)]
    n = len(diffs)
    mean = statistics.fmean(diffs)
    std = statistics.stdev(diffs) if n > 1 else 0.0
    sem = std / math.sqrt(n)
    if n < 2:
        t, p = math.nan, math.nan
    elif sem == 0:
        t, p = (math.copysign(math.inf, mean), 0.0) if mean != 0 else (0.0, 1.0)
    else:
        t = mean / sem
        p = float(2 * _scipy_stats.t.sf(abs(t), n - 1))
    half = critical_t(n, alpha) * sem if n > 1 else math.inf
    return {"mean": mean, "std": std, "sem": sem, "n": n, "t": t, "p": p,
            "ci_low": mean - half, "ci_high": mean + half,
            "beyond_noise": bool(n >= MIN_SEEDS and p < alpha)}


def format_p(p: float) -> str:
    """``p=0.035``, ``p<0.001`` or ``p=n/a`` (fewer than 2 seeds)."""
    if math.isnan(p):
        return "p=n/a"
    return "p<0.001" if p < 0.001 else f"p={p:.3f}"


def format_difference(d: dict, decimals: int = 1) -> str:
    """A table cell: ``+3.0 (0.6) p=0.035 *`` — mean, (sem), p-value of the paired t-test, ``*`` beyond noise."""
    mean = round(d["mean"], decimals) + 0.0
    sem = f"{d['sem']:.{decimals}f}" if d["n"] > 1 else "n/a"      # one seed: no spread to estimate
    return (f"{mean:+.{decimals}f} ({sem}) {format_p(d['p'])}"
            + (" *" if d["beyond_noise"] else ""))


def significance_note(n_seeds: int, n_tests: int, alpha: float = ALPHA) -> str:
    """The sentence under a table of ``n_tests`` paired differences over ``n_seeds`` seeds: the rule, and how many
    stars chance alone would give."""
    if n_seeds < MIN_SEEDS:
        return (f"* would mark a paired t-test with p < {alpha:g}; with {n_seeds} seed(s) nothing is called beyond "
                f"seed noise (that needs >= {MIN_SEEDS})")
    return (f"* = beyond seed noise: paired two-sided t-test over the {n_seeds} seeds, p < {alpha:g} "
            f"(|mean| > {critical_t(n_seeds, alpha):.2f} · sem, the critical t for {n_seeds - 1} dof); "
            f"{n_tests} differences tested, so about {alpha * n_tests:.1f} star(s) would appear by chance alone "
            f"if no difference were real — a lone star is weak evidence; keeping the chance of any false star "
            f"at {alpha:g} over all {n_tests} needs p < {alpha / n_tests:.2g} (Bonferroni)")


def judgement(diffs: dict[str, dict], better: dict[str, bool], n: int) -> str:
    """The verdict phrase for several paired differences: ``diffs`` {label: :func:`paired_difference`},
    ``better`` {label: the difference favours the variant}, ``n`` seeds."""
    if n < MIN_SEEDS:
        return f"too few seeds to tell a difference from seed noise (need >= {MIN_SEEDS})"
    beyond = [label for label, d in diffs.items() if d["beyond_noise"]]
    if not beyond:
        return "no difference beyond seed noise"
    sides = {label: "better" if better[label] else "worse" for label in beyond}
    if len(beyond) == len(diffs) and len(set(sides.values())) == 1:
        return f"{next(iter(sides.values()))} beyond seed noise"
    return (", ".join(f"{side} on {label}" for label, side in sides.items()) + " beyond seed noise"
            + ("; the rest within it" if len(beyond) < len(diffs) else ""))
