"""The loss explorer shows the real loss's tensors; its widget reacts to its controls."""

import matplotlib
import numpy as np
import pytest
import torch

from crossclr_lab.lab.loss_explorer import (
    draw_explorer,
    explore,
    explorer_widget,
    intra_weight_forms,
    temperature_sweep,
)
from crossclr_lab.losses import CrossCLRLoss

matplotlib.use("Agg")


def batch(b=8, d=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    shared = torch.randn(1, 5, generator=g)
    feats = torch.randn(b, 5, generator=g) + 2 * shared * torch.rand(b, 1, generator=g)
    return torch.randn(b, d, generator=g), torch.randn(b, d, generator=g), feats, torch.randn(b, 4, generator=g)


def test_explore_reports_the_loss_and_consistent_shares():
    v, t, vf, tf = batch()
    out = explore(v, t, vf, tf, temperature=0.1, prune_threshold=0.7, weight_temperature=0.5)
    expected = CrossCLRLoss(0.1, 0.8, 0.7, 0.5)(v, t, vf, tf)
    assert out["loss"] == pytest.approx(expected.item(), rel=1e-6)
    for side, inter in (("video", out["logits_inter"]), ("text", out["logits_inter"].T)):
        positive = np.exp(-out[f"per_sample_{side}"])            # δ_pos / denominator
        total = out[f"share_inter_{side}"].sum(1) + out[f"share_intra_{side}"].sum(1) + positive
        np.testing.assert_allclose(total, 1.0, rtol=1e-5)
        assert np.all(out[f"share_inter_{side}"][:, out[f"influential_{side}"]] == 0)
    assert np.isfinite(out["grad_norm_video"]).all() and out["grad_norm_text"].shape == (8,)


def test_zero_mask_bug_only_adds_to_the_loss():
    v, t, vf, tf = batch(seed=1)
    out = explore(v, t, vf, tf, temperature=0.5, prune_threshold=0.6)
    assert out["influential_video"].any()
    assert out["loss_zero_mask_bug"] > out["loss"]
    clean = explore(v, t, vf, tf, temperature=0.5, intra_weight=0.0, prune_threshold=None, weight_temperature=None)
    assert clean["loss_zero_mask_bug"] == pytest.approx(clean["loss"])


def test_explore_with_queue_does_not_change_inputs():
    v, t, vf, tf = batch()
    queue = batch(b=6, seed=3)
    out = explore(v, t, vf, tf, queue=queue, weight_temperature=None)
    assert int(out["queue_filled"]) == 6 and out["settings"]["queue_size"] == 6


def test_intra_weight_forms():
    forms = intra_weight_forms(np.linspace(-1, 1, 5), 0.1, 0.5)
    np.testing.assert_allclose(forms["paper"], 0.5 * forms["inter"])
    assert forms["code"][2] == pytest.approx(1.0)           # s = 0: exp(0) whatever λ


def test_draw_and_sweep():
    v, t, vf, tf = batch()
    fig = draw_explorer(explore(v, t, vf, tf))
    assert len(fig.axes) >= 6 and all(ax.get_xlabel() for ax in fig.axes[:6] if ax.get_title())
    sweep = temperature_sweep(v, t, vf, tf, temperatures=(0.05, 0.5))
    assert sweep["loss"].shape == (2,)


def test_widget_reacts_to_sliders():
    v, t, vf, tf = batch()
    ui = explorer_widget(v, t, vf, tf, queue=batch(b=10, seed=5))
    assert ui.result is not None                  # ipywidgets swallows exceptions: check it ran
    first = ui.result["loss"]
    names = [c.description for c in ui.children[:-1]]
    assert names[:5] == ["τ", "λ", "γ", "κ", "queue"]
    ui.children[0].value = 0.3
    assert ui.result["settings"]["temperature"] == pytest.approx(0.3, rel=1e-3)
    assert ui.result["loss"] != first
    ui.children[4].value = 10
    assert int(ui.result["queue_filled"]) == 10
    ui.children[6].value = False                  # pruning off
    assert not ui.result["influential_video"].any()
