"""The loss explorer shows the real loss's tensors; its widget reacts to its controls."""

import matplotlib
import numpy as np
import pytest
import torch

from crossclr_lab.lab.findings import check_claims
from crossclr_lab.lab.loss_explorer import (
    draw_explorer,
    explore,
    explorer_widget,
    intra_weight_forms,
    queue_share,
    setting_text,
    sharpness_table,
    sharpness_verdict,
    temperature_sweep,
    top_loss_verdict,
    top_losses,
    weight_table,
    weight_verdict,
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


def test_draw_both_sides_with_captions_and_sweep():
    v, t, vf, tf = batch()
    result = explore(v, t, vf, tf)
    captions = [f"caption {i} — keyword" for i in range(8)]
    for side in ("video", "text"):
        fig = draw_explorer(result, side, captions)
        assert len(fig.axes) >= 6 and all(ax.get_xlabel() for ax in fig.axes[:6] if ax.get_title())
        assert fig.axes[0].get_yticklabels()[3].get_text() == "caption 3 3"       # captions, not indices
        assert side.capitalize() in fig._suptitle.get_text()
    with pytest.raises(ValueError, match="side"):
        draw_explorer(result, "audio")
    sweep = temperature_sweep(v, t, vf, tf, temperatures=(0.05, 0.5))
    assert sweep["loss"].shape == (2,)


def test_settings_are_formatted_for_reading():
    settings = {"temperature": 0.0354813, "intra_weight": 0.8, "prune_threshold": 0.9, "weight_temperature": 0.0035,
                "queue_size": 0, "intra_weight_on": "similarity"}
    assert setting_text(settings) == "τ = 0.035, λ = 0.80, γ = 0.90, κ = 0.0035, queue 0"
    off = {**settings, "prune_threshold": None, "weight_temperature": None, "intra_weight": 0.0}
    assert setting_text(off) == "τ = 0.035, λ = off, γ = off, κ = off, queue 0"


def test_queue_share_closes_the_soft_max_and_is_drawn():
    v, t, vf, tf = batch()
    result = explore(v, t, vf, tf, queue=batch(b=6, seed=3), temperature=0.2)
    for side in ("video", "text"):
        q = queue_share(result, side)
        total = (np.exp(-result[f"per_sample_{side}"]) + result[f"share_inter_{side}"].sum(1)
                 + result[f"share_intra_{side}"].sum(1) + q)
        np.testing.assert_allclose(total, 1.0, rtol=1e-5)
        assert (q > 0).all()
    fig = draw_explorer(result, "video")
    assert [t.get_text() for t in fig.axes[2].get_xticklabels()][-1] == "Q"
    assert not queue_share(explore(v, t, vf, tf), "video").any()


def test_widget_controls_sit_beside_the_figure_and_react():
    v, t, vf, tf = batch()
    ui = explorer_widget(v, t, vf, tf, queue=batch(b=10, seed=5), labels=[f"c{i}" for i in range(8)])
    assert ui.result is not None and ui.figure is not None
    column, output = ui.box.children
    assert list(ui.controls.values()) == list(column.children) and output is ui.output
    first = ui.result["loss"]
    ui.controls["temperature"].value = 0.3
    assert ui.result["settings"]["temperature"] == pytest.approx(0.3, rel=1e-3)
    assert ui.result["loss"] != first
    ui.controls["queue_size"].value = 10
    assert int(ui.result["queue_filled"]) == 10
    assert [t.get_text() for t in ui.figure.axes[2].get_xticklabels()][-1] == "Q"
    ui.controls["use_pruning"].value = False                  # pruning off
    assert not ui.result["influential_video"].any()
    ui.controls["side"].value = "text"
    assert "Text anchors" in ui.figure._suptitle.get_text()


def test_tables_and_verdicts_agree():
    v, t, vf, tf = batch(b=8, seed=2)
    result = explore(v, t, vf, tf)
    captions = [f"c{i}" for i in range(8)]
    groups = [0, 0, 1, 1, 2, 3, 4, 5]
    tables = {"weights": weight_table(result), "top_losses": top_losses(result, captions, groups, k=4),
              "sharpness": sharpness_table(result)}
    verdicts = [weight_verdict(tables["weights"], 3.5e-3), top_loss_verdict(tables["top_losses"]),
                sharpness_verdict(tables["sharpness"])]
    markdown = {name: table.markdown() for name, table in tables.items()}
    for verdict in verdicts:
        assert check_claims(markdown, verdict) == [], verdict.text
    conn = result["connectivity_video"]
    c = conn / conn.sum()
    row = tables["weights"].rows[0]
    assert row[2] == f"{c.min():.3f}" and row[3] == f"{c.max():.3f}" and row[1] == "0.125"
    share = result["weight_video"] / result["weight_video"].sum()
    assert row[4] == f"{100 * share.max():.1f}"
    largest = max(max(result["per_sample_video"]), max(result["per_sample_text"]))
    assert tables["top_losses"].rows[0][2] == f"{largest:.2f}"
