"""False-negative analysis against brute force, and its behaviour on data with known concepts."""

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from crossclr_lab.data import make_synthetic
from crossclr_lab.lab.false_negatives import (
    batch_connectivity,
    connected_gallery,
    cosine_matrix,
    most_connected,
    partner_shares,
    partner_table,
    partner_verdict,
    plot_connectivity,
    plot_pruning_curves,
    plot_similarity_matrices,
    pruning_curve,
    pruning_table,
    pruning_verdict,
    random_batches,
    show_thumbnails,
    similarity_table,
    similarity_verdict,
    true_negative_verdict,
    zipf_subset,
)
from crossclr_lab.lab.findings import check_claims


def brute_curve(feat, groups, gammas, batch_size, seed):
    removed = np.zeros(len(gammas))
    removed_false = np.zeros(len(gammas))
    all_false = 0
    for idx in random_batches(len(feat), batch_size, seed):
        sims = cosine_matrix(feat[torch.as_tensor(idx)]).double().numpy()
        b = len(idx)
        conn = [(sims[i].sum() - sims[i, i]) / (b - 1) for i in range(b)]
        top = max(conn)
        for j, gamma in enumerate(gammas):
            for k in range(b):
                if top > 0 and conn[k] / top > gamma:
                    for i in range(b):
                        if i != k:
                            removed[j] += 1
                            removed_false[j] += groups[idx[i]] == groups[idx[k]]
        all_false += sum(groups[idx[i]] == groups[idx[k]] for i in range(b) for k in range(b) if i != k)
    return removed_false / np.maximum(removed, 1), removed_false / all_false


def test_pruning_curve_matches_brute_force():
    data = make_synthetic(n_concepts=6, pairs_per_concept=8, seed=1)
    groups = data.groups["concept"]
    gammas = [0.3, 0.6, 0.8, 0.95, 1.0]
    curve = pruning_curve(data.video_pooled, groups, gammas, batch_size=16, seed=2)
    precision, recall = brute_curve(data.video_pooled, groups, gammas, 16, 2)
    has = curve["pruned_fraction"] > 0
    np.testing.assert_allclose(curve["precision"][has], precision[has], rtol=1e-6)
    np.testing.assert_allclose(curve["recall"], recall, rtol=1e-6)
    assert curve["pruned_fraction"][-1] == 0 and np.isnan(curve["precision"][-1])   # γ = 1: nothing pruned
    assert np.all(np.diff(curve["pruned_fraction"]) <= 0)                            # higher γ prunes less


def test_connectivity_is_the_loss_connectivity():
    feat = torch.randn(10, 5)
    sims = cosine_matrix(feat)
    expected = (sims.sum(1) - sims.diagonal()) / 9
    torch.testing.assert_close(batch_connectivity(feat), expected)
    queue = torch.randn(4, 5)
    both = cosine_matrix(torch.cat([feat, queue]))[:10]
    torch.testing.assert_close(batch_connectivity(feat, queue), (both.sum(1) - both.diagonal()[:10]) / 13)


def test_most_connected_and_partner_shares_against_brute_force():
    data = make_synthetic(n_concepts=5, pairs_per_concept=12, seed=0)
    idx, conn = most_connected(data.text_pooled, k=5)
    assert len(idx) == 5 and np.all(np.diff(conn) <= 0)
    groups = data.groups["concept"]
    shares = partner_shares(data.text_pooled, groups, gamma=0.5, batch_size=20, epochs=2, seed=3)
    hit = total = hit_all = 0
    for epoch in range(2):
        for batch in random_batches(len(groups), 20, 3 + epoch):
            conn = batch_connectivity(data.text_pooled[torch.as_tensor(batch)]).numpy()
            for k in range(len(batch)):
                partner = any(groups[batch[i]] == groups[batch[k]] for i in range(len(batch)) if i != k)
                hit_all += partner
                if conn[k] / conn.max() > 0.5:
                    total += 1
                    hit += partner
    assert shares["n_influential"] == total and shares["influential"] == pytest.approx(hit / total)
    assert shares["all"] == pytest.approx(hit_all / (2 * 3 * 20))


def test_connected_gallery_skips_clips_without_pictures():
    data = make_synthetic(n_concepts=3, pairs_per_concept=4, seed=0)
    images, titles, skipped = connected_gallery(data, data.text_pooled, k=3)
    assert images == [] and titles == [] and len(skipped) == len(data)      # synthetic data has no pictures
    data.thumbnail_fn = lambda i: np.zeros((4, 4, 3)) if i % 2 == 0 else (_ for _ in ()).throw(ValueError("none"))
    images, titles, skipped = connected_gallery(data, data.text_pooled, k=3)
    assert len(images) == 3 and all("\nC = " in t for t in titles)
    assert all(data.captions.index(s) % 2 == 1 for s in skipped)


def test_bad_arguments():
    with pytest.raises(ValueError, match="batch_size"):
        random_batches(5, 10)
    with pytest.raises(ValueError, match="one label per row"):
        pruning_curve(torch.randn(6, 3), [0, 1], batch_size=3)


def test_zipf_subset_sizes_and_pruning_beats_chance_on_frequent_concepts():
    data = make_synthetic(n_concepts=8, pairs_per_concept=40, seed=0)
    sub = zipf_subset(data, "concept", largest=40)
    sizes = np.bincount(sub.groups["concept"])
    assert sizes.tolist() == [min(40, 40 // k + 2) for k in range(1, 9)]
    # frequent concepts form dense regions: pruning's precision clearly beats its base rate
    curve = pruning_curve(sub.video_pooled, sub.groups["concept"], [0.8], batch_size=32, epochs=3)
    assert curve["precision"][0] > 1.5 * curve["base_rate"][0]


def test_figures_are_labelled_figures_and_the_summary_reads_the_curve():
    data = make_synthetic(n_concepts=4, pairs_per_concept=10, seed=0)
    groups = data.groups["concept"]
    curves = {"video": pruning_curve(data.video_pooled, groups, [0.5, 0.9], batch_size=8)}
    figures = [plot_similarity_matrices({"a": (data.video_pooled, groups), "b": (data.text_pooled, groups)}),
               plot_connectivity(batch_connectivity(data.video_pooled[:8]).numpy(), 0.9),
               plot_pruning_curves(curves), show_thumbnails([None, None], ["one", "two"], ncols=2)]
    for fig in figures:
        assert isinstance(fig, Figure)
    for ax in figures[0].axes[:1] + figures[1].axes + figures[2].axes:
        assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()
    assert len([ax for ax in figures[0].axes if ax.get_title()]) == 2
    table = pruning_table(curves, gamma=0.88)
    c = curves["video"]
    assert table.rows[0][1] == "0.90" and table.rows[0][-1] == f"{100 * c['recall'][1]:.1f}"


def test_tables_and_verdicts_agree_and_a_wrong_verdict_is_caught():
    data = make_synthetic(n_concepts=6, pairs_per_concept=30, seed=0)
    sub = zipf_subset(data, "concept", largest=30)
    curves = {name: pruning_curve(d.video_pooled, d.groups["concept"], [0.8, 0.9], batch_size=24, epochs=2)
              for name, d in (("balanced", data), ("Zipf", sub))}
    table = pruning_table(curves, 0.8)
    verdicts = [pruning_verdict(table), true_negative_verdict(table, "Zipf")]
    shares = {"video": partner_shares(sub.video_pooled, sub.groups["concept"], 0.8, 24)}
    partners = partner_table(shares, "concept", 0.8)
    panels = {"a": (data.video_pooled, data.groups["concept"]), "b": (data.text_pooled, data.groups["concept"])}
    similarity = similarity_table(panels)
    tables = {t.name: t.markdown() for t in (table, partners, similarity)}
    for verdict in verdicts + [partner_verdict(partners), similarity_verdict(similarity)]:
        assert verdict.claims and check_claims(tables, verdict) == [], verdict.text
    lifts = {r[0]: float(r[5]) for r in table.rows}
    assert f"most precise on **{max(lifts, key=lifts.get)}**" in verdicts[0].text
    swapped = table.markdown().replace(table.rows[0][5], "9.9", 1)          # a table the verdict no longer fits
    assert check_claims({**tables, table.name: swapped}, verdicts[0])


def test_identical_pruned_series_are_drawn_distinguishably():
    import numpy as np

    from crossclr_lab.lab.false_negatives import plot_pruning_curves

    th = np.linspace(0.5, 1, 6)
    curve = {"threshold": th, "pruned_fraction": np.linspace(0.6, 0.0, 6), "precision": th, "base_rate": th / 2,
             "recall": th}
    fig = plot_pruning_curves({"video / concept": curve, "video / base": dict(curve)})
    lines = fig.axes[0].get_lines()
    assert len(lines) == 2 and (lines[0].get_linestyle(), lines[0].get_marker()) != (
        lines[1].get_linestyle(), lines[1].get_marker())
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["video / concept", "video / base (= video / concept: same features)"]
