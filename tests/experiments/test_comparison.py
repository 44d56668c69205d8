"""Comparison summaries: paired differences, verdicts, chance levels, tables, ablation variants, a tiny real run."""

import json
import math

import pytest
import torch

from crossclr_lab.data import make_synthetic
from crossclr_lab.data.paired import PairedFeatures
from crossclr_lab.experiments.comparison import Variant, ablation_variants, run_comparison, summarize
from crossclr_lab.experiments.report import format_table, verdict_lines, write_report
from crossclr_lab.metrics import chance_levels
from crossclr_lab.training.trainer import TrainConfig

pytestmark = pytest.mark.usefixtures("one_thread")


METRICS = ("t2v_r1", "t2v_r5", "t2v_r10", "t2v_medr", "v2t_r1", "v2t_r5", "v2t_r10", "v2t_medr")


def _results(a_r1: list[float], b_r1: list[float]) -> dict:
    """Hand-made results: variant ``a`` and baseline ``b`` with the given per-seed R@1 (other metrics fixed)."""
    def runs(values):
        return [{"seed": s, "test": {**{m: 10.0 for m in METRICS}, "t2v_r1": v, "v2t_r1": v}}
                for s, v in enumerate(values)]

    res = {"dataset": "toy", "n_test": 100, "group": None, "seeds": list(range(len(a_r1))), "baseline": "b",
           "chance": {**{m: 1.0 for m in METRICS}, "t2v_medr": 50.5, "v2t_medr": 50.5},
           "variants": {"a": {"runs": runs(a_r1)}, "b": {"runs": runs(b_r1)}}}
    res["summary"] = summarize(res)
    return res


def test_paired_difference_statistics():
    res = _results([12.0, 14.0, 19.0], [10.0, 11.0, 15.0])  # per-seed differences 2, 3, 4
    d = res["summary"]["a"]["diff"]["t2v_r1"]
    assert d["mean"] == pytest.approx(3.0) and d["std"] == pytest.approx(1.0)
    assert d["sem"] == pytest.approx(1 / math.sqrt(3)) and d["beyond_noise"]
    assert res["summary"]["a"]["mean"]["t2v_r1"] == pytest.approx(15.0)
    assert res["summary"]["a"]["std"]["t2v_r1"] == pytest.approx(math.sqrt(13))
    assert res["summary"]["b"]["diff"] == {}  # the baseline has no difference to itself
    r5 = res["summary"]["a"]["diff"]["t2v_r5"]
    assert r5["mean"] == 0 and not r5["beyond_noise"]


def test_pairing_cancels_shared_seed_luck():
    # large spread across seeds but a constant +1 per seed: unpaired stds overlap, the paired test does not
    res = _results([11.0, 31.0, 51.0], [10.0, 30.0, 50.0])
    d = res["summary"]["a"]["diff"]["t2v_r1"]
    assert d["std"] == 0 and d["beyond_noise"]
    assert "better beyond seed noise" in verdict_lines(res)[0]


@pytest.mark.parametrize("a, b, expected", [
    ([10.0, 12.0, 11.0], [11.0, 11.0, 11.0], "no difference beyond seed noise"),
    ([8.0, 9.0, 7.0], [11.0, 12.0, 11.0], "worse beyond seed noise"),
    ([20.0, 10.0], [10.0, 10.0], "too few seeds"),
    # per-seed +1, +2, +4: |mean| = 2.6 sem clears the old 2·sem rule, not the t-test (p = 0.12, t_crit 4.30)
    ([11.0, 12.0, 14.0], [10.0, 10.0, 10.0], "no difference beyond seed noise"),
])
def test_verdicts_follow_the_numbers(a, b, expected):
    lines = verdict_lines(_results(a, b))
    assert len(lines) == 1 and expected in lines[0] and lines[0].startswith("Verdict a vs b")


def test_table_has_rows_chance_and_differences():
    table = format_table(_results([12.0, 14.0, 19.0], [10.0, 11.0, 15.0]))
    lines = table.splitlines()
    assert lines[0].startswith("| variant") and "T→V R@1" in lines[0] and "V→T MedR" in lines[0]
    assert any(line.startswith("| a ") and "15.0 ± 3.6" in line for line in lines)
    assert any(line.startswith("| chance ") and "50.5" in line for line in lines)
    assert any(line.startswith("| Δ a − b") and "+3.0 (0.6) p=0.035 *" in line for line in lines)
    assert "paired two-sided t-test" in table and "4.30" in table and "differences tested" in table


def test_chance_levels_match_brute_force():
    n = 40
    groups = ["x"] * 10 + ["y"] * 30
    data = PairedFeatures(video=torch.zeros(n, 1, 2), video_lengths=torch.ones(n, dtype=torch.long),
                          text=torch.zeros(n, 2), captions=[""] * n, ids=[str(i) for i in range(n)],
                          groups={"g": groups})
    chance = chance_levels(len(data), data.groups["g"])
    assert chance["t2v_r1"] == pytest.approx(2.5) and chance["v2t_r10"] == pytest.approx(25.0)
    assert chance["t2v_medr"] == pytest.approx(20.5)
    # a uniformly random top-1 item shares the query's group: average over queries of n_g / N
    brute = sum(groups.count(g) / n for g in groups) / n * 100
    assert chance["t2v_sem_r1"] == pytest.approx(brute) == pytest.approx(62.5)
    assert data.default_group() == "g"


def test_ablation_variants_switch_one_component_each():
    variants = ablation_variants({"queue_size": 16}, queue_sizes=(16, 64))
    names = [v.name for v in variants]
    assert names == ["crossclr (full)", "no intra", "no pruning", "no weighting", "none (= InfoNCE)", "queue 64"]
    full = variants[0].loss_kwargs
    for v in variants[1:4]:
        changed = {k for k in full if v.loss_kwargs[k] != full[k]}
        assert len(changed) == 1
    assert variants[4].loss_kwargs == {"intra_weight": 0.0, "prune_threshold": None, "weight_temperature": None,
                                       "queue_size": 0}
    assert variants[5].loss_kwargs["queue_size"] == 64


def test_none_variant_equals_infonce():
    from crossclr_lab.losses import build_loss

    torch.manual_seed(0)
    v, t = torch.randn(8, 4), torch.randn(8, 4)
    none = ablation_variants()[4]
    assert build_loss(none.loss, **none.loss_kwargs)(v, t).item() == pytest.approx(build_loss("infonce")(v, t).item())


def test_run_comparison_end_to_end(tmp_path):
    kw = dict(n_concepts=5, pairs_per_concept=8, video_dim=8, text_dim=6, frames=3)
    splits = tuple(make_synthetic(split=s, **kw) for s in ("train", "val", "test"))
    logged = []
    cfg = TrainConfig(epochs=2, batch_size=20, embed_dim=16, hidden_dim=16, progress=False)
    res = run_comparison([Variant("x", "infonce"), Variant("y", "nt_xent")], [0, 1, 2], splits, cfg, group="concept",
                         out_dir=tmp_path, baseline="y", log=logged.append, curve_k=10)
    assert len(logged) == 6
    assert res["chance"]["t2v_sem_r1"] == pytest.approx(20.0)
    run = res["variants"]["x"]["runs"][0]
    assert len(run["recall_curves"]["t2v"]) == 10 and run["recall_curves"]["t2v"][-1] >= run["test"]["t2v_r10"] - 1e-9
    on_disk = json.loads((tmp_path / "results.json").read_text())
    assert on_disk["summary"]["x"]["diff"]["t2v_r1"]["n"] == 3
    assert not (tmp_path / "results.md").exists()                  # rendering is report's job
    write_report(res, tmp_path)
    assert "Verdict x vs y" in (tmp_path / "results.md").read_text()
    assert (tmp_path / "runs" / "x" / "seed2" / "record.json").exists()
    with pytest.raises(ValueError, match="unique"):
        run_comparison([Variant("x", "infonce")] * 2, [0], splits, cfg)
    with pytest.raises(ValueError, match="prune_threshold"):
        run_comparison([Variant("x", "infonce"), Variant("z", "crossclr", {"prune_threshold": 2.0})], [0], splits, cfg,
                       log=pytest.fail)  # rejected before the first run
    with pytest.raises(ValueError, match="baseline"):
        run_comparison([Variant("x", "infonce")], [0], splits, cfg, baseline="z")


def test_mixed_verdict_names_direction_and_metric():
    res = _results([8.0, 9.0, 7.0], [11.0, 12.0, 11.0])  # T→V clearly worse
    for run, v in zip(res["variants"]["a"]["runs"], (12.0, 10.0, 11.0)):
        run["test"]["v2t_r1"] = v  # V→T: +1, -2, 0 against the baseline -> within noise
    res["summary"] = summarize(res)
    assert verdict_lines(res)[0].endswith("→ worse on T→V R@1 beyond seed noise; the rest within it.")


def test_verdict_on_ranks_treats_lower_as_better():
    res = _results([10.0] * 3, [10.0] * 3)
    for run, v in zip(res["variants"]["a"]["runs"], (5.0, 6.0, 5.5)):
        run["test"]["t2v_medr"] = v  # baseline MedR is 10 for every seed
    res["summary"] = summarize(res)
    assert "better beyond seed noise" in verdict_lines(res, metrics=("t2v_medr",))[0]
