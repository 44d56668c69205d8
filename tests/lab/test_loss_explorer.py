"""The loss explorer shows the real loss's tensors; its widget reacts to its controls."""

import matplotlib
import numpy as np
import pytest
import torch

from crossclr_lab.lab.findings import check_claims
from crossclr_lab.lab.loss_explorer import (
    draw_explorer,
    explore,
    explorer_batch,
    explorer_model,
    explorer_widget,
    gamma_step_table,
    gamma_step_verdict,
    intra_weight_forms,
    log_grid,
    next_pruning_change,
    pruning_changes,
    setting_text,
    sharpness_table,
    sharpness_verdict,
    sweep_table,
    sweep_verdict,
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
        negatives = out[f"share_inter_{side}"] + out[f"share_intra_{side}"]           # shares among negatives
        open_rows = 1 - positive > 1e-3                     # float32 cannot resolve a smaller mass
        np.testing.assert_allclose(out[f"negative_share_{side}"][open_rows],
                                   negatives[open_rows] / (1 - positive[open_rows, None]), rtol=1e-4)
        np.testing.assert_allclose(out[f"negative_share_{side}"].sum(1)[open_rows], 1.0, rtol=1e-6)
        none_left = (out[f"inter_mask_{side}"].sum(1) + out[f"intra_mask_{side}"].sum(1)) == 0
        assert (out[f"negative_share_{side}"][none_left] == 0).all()
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


def test_queue_closes_the_negatives_share_and_is_drawn():
    v, t, vf, tf = batch()
    result = explore(v, t, vf, tf, queue=batch(b=6, seed=3), temperature=0.2)
    for side in ("video", "text"):
        q = result[f"queue_negative_share_{side}"]
        np.testing.assert_allclose(result[f"negative_share_{side}"].sum(1) + q, 1.0, rtol=1e-5)
        assert (q > 0).all()
    fig = draw_explorer(result, "video")
    assert [t.get_text() for t in fig.axes[2].get_xticklabels()][-1] == "Q"
    assert not explore(v, t, vf, tf)["queue_negative_share_video"].any()


def test_shares_among_negatives_stay_finite_on_a_solved_batch():
    v, t, vf, tf = batch()
    out = explore(v, 50 * v + 0.01 * t, vf, tf, temperature=0.01)      # every positive wins its soft-max
    assert out["positive_share_video"].min() > 0.999
    for side in ("video", "text"):
        shares = out[f"negative_share_{side}"]
        assert np.isfinite(shares).all()
        kept = (out[f"inter_mask_{side}"].sum(1) + out[f"intra_mask_{side}"].sum(1)) > 0
        np.testing.assert_allclose(shares.sum(1)[kept], 1.0, rtol=1e-6)


def test_widget_controls_sit_beside_the_figure_and_update_it_in_place():
    v, t, vf, tf = batch()
    ui = explorer_widget(v, t, vf, tf, queue=batch(b=10, seed=5), labels=[f"c{i}" for i in range(8)])
    assert ui.result is not None and ui.figure is not None
    column, view = ui.box.children
    assert list(ui.controls.values()) == list(column.children) and ui.image in view.children
    first, figure, png = ui.result["loss"], ui.figure, bytes(ui.image.value)
    assert png.startswith(b"\x89PNG")
    tau = ui.controls["temperature"]
    tau.value = next(x for _, x in tau.options if x > 0.25)
    assert ui.result["settings"]["temperature"] == tau.value
    assert ui.result["loss"] != first and bytes(ui.image.value) != png
    assert ui.figure is figure                                # updated, not rebuilt
    ui.controls["queue_size"].value = 10
    assert int(ui.result["queue_filled"]) == 10
    assert [t.get_text() for t in ui.figure.axes[2].get_xticklabels()][-1] == "Q"
    ui.controls["use_pruning"].value = False                  # pruning off
    assert not ui.result["influential_video"].any()
    ui.controls["side"].value = "text"
    assert "Text anchors" in ui.note.value and ui.figure is ui.figures["text"].figure


def test_blitted_updates_match_a_full_redraw():
    """Brute force: after updates that move data and rescale axes, the blitted picture equals a full redraw."""
    from PIL import Image

    from crossclr_lab.lab.loss_explorer import ExplorerFigure

    v, t, vf, tf = batch()
    fig = ExplorerFigure(8, "video", queue_column=True)
    for tau in (0.03, 0.005, 0.5):                            # 0.005: losses far beyond the first axis range
        fig.update(explore(v, t, vf, tf, temperature=tau))
        blitted = np.asarray(Image.open(__import__("io").BytesIO(fig.png())).convert("RGB")).astype(int)
    for artist in fig.artists():
        artist.set_animated(False)
    fig.live.canvas.draw()
    full = np.asarray(fig.live.canvas.buffer_rgba())[..., :3].astype(int)
    differs = (np.abs(blitted - full).max(-1) > 24).mean()
    assert differs < 0.01, f"{100 * differs:.2f} % of the pixels differ from a full redraw"


def test_log_sliders_hold_the_papers_values_exactly():
    for value, low, high in ((0.03, 0.005, 1.0), (0.0035, 1e-4, 1.0)):
        grid = log_grid(value, low, high)
        assert value in grid and grid == sorted(grid) and low <= grid[0] and grid[-1] <= high
        ratios = np.diff(np.log10(grid))
        np.testing.assert_allclose(ratios, 0.1, atol=1e-9)
    v, t, vf, tf = batch()
    ui = explorer_widget(v, t, vf, tf)
    for name, paper in (("temperature", 0.03), ("weight_temperature", 0.0035)):
        slider = ui.controls[name]
        assert slider.value == paper
        for step in (1, 1, -1, -1):                           # two steps right, two left, as a keyboard does
            slider.index += step
        assert slider.value == paper and slider.label == format(paper, ".3g" if name == "temperature" else ".2g")


def test_a_gamma_step_names_the_sample_it_unprunes():
    v, t, vf, tf = batch(b=8, seed=1)
    before = explore(v, t, vf, tf, prune_threshold=0.6)
    gamma = next_pruning_change(before)
    assert gamma is not None and gamma > 0.6
    after = explore(v, t, vf, tf, prune_threshold=gamma)
    changes = pruning_changes(before, after, [f"c{i}" for i in range(8)])
    assert changes and all(not c["pruned"] and 0.6 < c["connectivity"] <= gamma for c in changes)
    for c in changes:
        assert c["before"] == pytest.approx(float(before[f"loss_{c['side']}"]))
        assert c["after"] == pytest.approx(float(after[f"loss_{c['side']}"]))
    table = gamma_step_table(before, after, [f"c{i}" for i in range(8)])
    verdict = gamma_step_verdict(table)
    assert check_claims({table.name: table.markdown()}, verdict) == [], verdict.text
    assert pruning_changes(before, before) == []
    assert next_pruning_change(explore(v, t, vf, tf, prune_threshold=None)) is None


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


def _verdicts_hold(result, v, t, vf, tf):
    sharp = sharpness_table(result)
    verdict = sharpness_verdict(sharp)
    sweep = sweep_table(temperature_sweep(v, t, vf, tf, temperatures=(0.01, 0.03, 0.1, 1.0)))
    tables = {sharp.name: sharp.markdown(), sweep.name: sweep.markdown()}
    for v_ in (verdict, sweep_verdict(sweep)):
        assert check_claims(tables, v_) == [], v_.text
    return sharp, verdict


@pytest.fixture(scope="module")
def notebook_02_batches():
    """The batch notebook 02 shows (held-out pairs under its shipped InfoNCE model) and a solved one (training
    pairs), built as the notebook builds them."""
    from crossclr_lab.data import load_splits

    torch.set_num_threads(1)
    train, val = load_splits("emoji_motion", ("train", "val"))
    model, record = explorer_model(train, val)
    return {split: explorer_batch(model, data, 16, 0, 0) for split, data in (("val", val), ("train", train))}


@pytest.mark.parametrize("split", ["val", "train"])
def test_notebook_02_verdicts_match_their_numbers(notebook_02_batches, split):
    b = notebook_02_batches[split]
    args = [b[k] for k in ("video_emb", "text_emb", "video_feat", "text_feat")]
    result = explore(*args)
    sharp, verdict = _verdicts_hold(result, *args)
    positive = float(sharp.rows[0][1])
    if split == "val":          # the notebook's batch: the loss has work to do
        assert positive < 0.9 and "still has work to do" in verdict.text and result["loss"] > 0.5
    else:                       # solved: the positives hold the soft-max, and the verdict says so
        assert positive > 0.9 and "already hold most" in verdict.text
    top, equal = float(sharp.rows[0][2]), float(sharp.rows[0][3])
    assert ("one hard negative" in verdict.text) == (top > 0.5 or float(sharp.rows[1][2]) > 0.5)
    assert equal < top <= 1.0
