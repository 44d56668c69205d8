"""Notebook 08's companion: centring, connectivity samples, the three Emoji Motion feature sets, and the
CrossCLR − InfoNCE table and sentences from real (tiny) runs."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from crossclr_lab.data import make_synthetic
from crossclr_lab.data.spec import EVAL_SPLITS
from crossclr_lab.lab import input_features as inf
from crossclr_lab.training.trainer import TrainConfig


@pytest.fixture(scope="module")
def synthetic_splits():
    return tuple(make_synthetic(n_concepts=8, pairs_per_concept=16, frames=4, split=s) for s in EVAL_SPLITS)


def test_centred_subtracts_the_train_frame_mean_from_every_split(synthetic_splits):
    shifted = tuple(replace(s, video=s.video + 3.0, video_pooled=None) for s in synthetic_splits)
    out = inf.centred(shifted)
    assert torch.allclose(out[0].video.reshape(-1, out[0].video.shape[-1]).mean(0), torch.zeros(64), atol=1e-5)
    mean = shifted[0].video.reshape(-1, 64).mean(0)
    assert torch.allclose(out[2].video, shifted[2].video - mean)
    assert torch.allclose(out[2].video_pooled, out[2].video.mean(1), atol=1e-6)     # pooled features follow
    assert out[1].ids == shifted[1].ids and torch.equal(out[1].text, shifted[1].text)


def test_connectivity_samples_and_mean_cosine(synthetic_splits):
    train = synthetic_splits[0]
    conn = inf.connectivity_samples(train.video_pooled, batch_size=32, epochs=2)
    assert conn.shape == (2 * (len(train) // 32) * 32,) and np.isfinite(conn).all()
    cos, negative = inf.mean_cosine(torch.ones(5, 3))
    assert cos == pytest.approx(1.0) and negative == 0
    cos, negative = inf.mean_cosine(torch.tensor([[1.0, 0.0], [-1.0, 0.0]]))
    assert cos == pytest.approx(-1.0) and negative == 1


def test_table_and_reading_come_from_real_runs(synthetic_splits, one_thread):
    sets = {"as drawn": synthetic_splits, "centred": inf.centred(synthetic_splits)}
    stats = inf.weight_share_table(sets, batch_size=32, epochs=1)
    assert set(stats) == {"as drawn", "centred", "text"}
    results = inf.compare_losses(sets, [0], TrainConfig(epochs=1, batch_size=32, progress=False), log=lambda s: None)
    table = inf.delta_table(results, stats)
    for name in sets:
        d = inf.deltas(results)[name]
        assert d["diff"]["t2v_r1"]["mean"] == pytest.approx(d["crossclr"]["t2v_r1"] - d["infonce"]["t2v_r1"])
        assert f"| {name} | {stats[name]['median']:.3f}" in table and f"| {d['crossclr']['t2v_r1']:.1f} ± " in table
    lines = inf.reading(results, stats)
    assert len(lines) == 2 and all("too few seeds (1)" in line for line in lines)


def test_emoji_motion_feature_sets():
    sets = inf.load_feature_sets()
    assert list(sets) == ["hand-crafted", "pretrained", "centred pretrained"]
    hand, pre, cen = (sets[k][0] for k in sets)
    assert hand.video.shape[-1] == 144 and pre.video.shape == cen.video.shape and pre.ids == hand.ids
    assert (pre.video >= 0).all() and inf.mean_cosine(pre.video_pooled)[0] > 0.2
    assert abs(inf.mean_cosine(cen.video_pooled)[0]) < 0.05


def _pair_results(t2v_r1_diffs, crossclr_r10=30.0, infonce_r10=25.0):
    """Fake run_comparison results of one view pair: per-seed test metrics, summarised by the real summarize()."""
    from crossclr_lab.experiments.comparison import summarize

    runs = {"crossclr": [], "infonce": []}
    for seed, diff in enumerate(t2v_r1_diffs):
        base = {"t2v_r1": 10.0 + seed, "t2v_r10": infonce_r10, "v2t_r1": 8.0, "v2t_r10": infonce_r10}
        runs["infonce"].append({"seed": seed, "test": base})
        runs["crossclr"].append({"seed": seed, "test": {**base, "t2v_r1": base["t2v_r1"] + diff,
                                                         "t2v_r10": crossclr_r10}})
    res = {"baseline": "infonce", "seeds": list(range(len(t2v_r1_diffs))), "n_test": 400,
           "chance": {"t2v_r1": 0.25, "t2v_r10": 2.5},
           "variants": {name: {"runs": r} for name, r in runs.items()}}
    res["summary"] = summarize(res, metrics=inf.PAIR_METRICS)
    return res


def test_pair_table_and_reading_follow_the_numbers():
    results = {"appearance ↔ motion": _pair_results([2.0, 2.2, 1.8]),
               "motion ↔ text": _pair_results([0.1, -0.1, 0.05], crossclr_r10=3.0, infonce_r10=3.0)}
    table = inf.pair_table(results)
    assert "| appearance ↔ motion | 13.0 ± 0.9 / 30.0 | 11.0 ± 1.0 / 25.0 | 8.0 ± 0.0 / 25.0 |" in table
    assert "+2.0 (0.1) p=0.003 *" in table and "+5.0 (0.0) p<0.001 *" in table
    first, second = inf.pair_reading(results)
    assert "CrossCLR better beyond seed noise on T→V R@1, T→V R@10" in first and "worse" not in first
    assert "little more than chance" in second and "no difference beyond seed noise" in second
    assert "too few seeds" in inf.pair_reading({"a ↔ b": _pair_results([1.0, 2.0])})[0]
