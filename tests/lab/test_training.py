"""Notebook 03's computed sentences: they follow the paired differences and agree with format_table's rows."""

import numpy as np
import pytest

from crossclr_lab.experiments.comparison import summarize
from crossclr_lab.experiments.report import format_table
from crossclr_lab.lab.findings import check_claims
from crossclr_lab.lab.training import (
    STILL_FALLING,
    ablation_sharing_infonce,
    ablation_verdict,
    comparison_verdict,
    curve_table,
    curve_verdict,
    kappa_variants,
    plot_relative_loss_curves,
)

METRICS = ("t2v_r1", "t2v_r5", "t2v_r10", "t2v_medr", "v2t_r1", "v2t_r5", "v2t_r10", "v2t_medr", "t2v_sem_r1")


def _results(per_variant: dict[str, list[float]], baseline: str, steps=None) -> dict:
    """Hand-made results: each variant's per-seed R@1 (both directions); MedR falls as R@1 rises."""
    def runs(values):
        return [{"seed": s, "best_epoch": 12, "epochs_run": 12,
                 "step_losses": (steps or [list(np.linspace(5, 1, 40))])[0],
                 "test": {**{m: 10.0 for m in METRICS}, "t2v_r1": v, "v2t_r1": v - 1, "t2v_medr": 100 - v,
                          "t2v_sem_r1": v + 2}} for s, v in enumerate(values)]

    n = len(next(iter(per_variant.values())))
    res = {"dataset": "toy", "n_test": 100, "group": "concept", "seeds": list(range(n)), "baseline": baseline,
           "chance": {m: 1.0 for m in METRICS},
           "variants": {name: {"runs": runs(v)} for name, v in per_variant.items()}}
    res["summary"] = summarize(res)
    return res


def test_comparison_verdict_follows_the_paired_differences_and_the_table():
    res = _results({"infonce": [10.0, 20.0, 30.0], "worse": [8.0, 17.0, 28.0], "same": [11.0, 19.0, 30.5]}, "infonce")
    verdict = comparison_verdict(res, "comparison")
    assert check_claims({"comparison": format_table(res)}, verdict) == []
    worse, same = verdict.text.split("\n- ")[1:]
    assert "**worse** than infonce beyond seed noise" in worse and "T→V R@1 -2.3" in worse
    assert "no difference from infonce beyond seed noise" in same
    few = _results({"infonce": [10.0, 20.0], "worse": [8.0, 17.0]}, "infonce")
    assert "no difference can be told from seed noise" in comparison_verdict(few).text


def test_a_verdict_that_misreads_the_table_is_caught():
    res = _results({"infonce": [10.0, 20.0, 30.0], "worse": [8.0, 17.0, 28.0]}, "infonce")
    verdict = comparison_verdict(res, "comparison")
    flipped = format_table(res).replace("-2.3", "+2.3")          # a table where the difference is a gain
    problems = check_claims({"comparison": flipped}, verdict)
    assert any("claimed negative" in p for p in problems)


def test_ablation_reading_names_the_component_that_moves_r1_and_reads_medr_the_right_way():
    res = _results({"crossclr (full)": [3.0, 4.7, 1.9], "no intra": [3.3, 1.4, 1.4], "no pruning": [2.3, 4.0, 2.3],
                    "no weighting": [5.1, 8.2, 5.8]}, "crossclr (full)")
    verdict = ablation_verdict(res, "ablation")
    assert check_claims({"ablation": format_table(res)}, verdict) == []
    weighting = next(line for line in verdict.text.splitlines() if "(row *no weighting*)" in line)
    assert "T→V R@1 +3.2: better (beyond seed noise)" in weighting
    assert "T→V MedR -3.2: better" in weighting                    # a lower median rank is better
    assert "Removing the connectivity weights (κ) moves T→V R@1 the most" in verdict.text
    assert "*better without* the connectivity weights" in verdict.text
    assert "pruning (γ)" in verdict.text.split("Within seed noise on T→V R@1:")[1]


def test_curve_table_tells_flattened_from_still_falling():
    flat = list(np.concatenate([np.linspace(5, 1, 30), np.full(30, 1.0)]))
    falling = list(np.linspace(5, 1, 60))
    res = _results({"a": [1.0, 2.0, 3.0]}, "a", steps=[flat])
    res["variants"]["b"] = {"runs": [{**r, "step_losses": falling, "best_epoch": 11}
                                     for r in res["variants"]["a"]["runs"]]}
    table = curve_table(res)
    late = {r[0]: float(r[2]) for r in table.rows}
    assert late["a"] < STILL_FALLING < late["b"]
    verdict = curve_verdict(table)
    assert check_claims({table.name: table.markdown()}, verdict) == []
    assert "**Still falling**" in verdict.text and "b (" in verdict.text.split("**Flattened**")[0]
    assert "Every seed picked its **last** epoch for a (3 of 3 seeds)" in verdict.text
    assert plot_relative_loss_curves(res).axes[0].get_ylabel()


def test_variant_helpers():
    kappas = kappa_variants([0.05, 0.0035])
    assert [v.name for v in kappas] == ["crossclr (full)", "κ = 0.05"]
    assert kappas[1].loss_kwargs["weight_temperature"] == 0.05
    shared = ablation_sharing_infonce()
    assert shared[-1].name == "none (= InfoNCE)" and shared[-1].loss == "infonce" and shared[-1].loss_kwargs == {}
    assert [v.loss for v in shared[:-1]] == ["crossclr"] * 4


@pytest.mark.parametrize("seeds", [[0, 1, 2], [0]])
def test_verdicts_never_claim_noise_judgements_they_cannot_make(seeds):
    values = {"infonce": [10.0, 20.0, 30.0][: len(seeds)], "x": [12.0, 22.0, 33.0][: len(seeds)]}
    res = _results(values, "infonce")
    verdict = comparison_verdict(res)
    relations = {c.relation for c in verdict.claims}
    assert ("beyond_noise" in relations or "within_noise" in relations) == (len(seeds) >= 3)
