"""False-negative analysis against brute force, and its behaviour on data with known concepts."""

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from crossclr_lab.data import make_synthetic
from crossclr_lab.lab.false_negatives import (
    batch_connectivity,
    cosine_matrix,
    describe_pruning,
    false_negative_share,
    most_connected,
    plot_connectivity,
    plot_pruning_curves,
    plot_similarity_matrices,
    pruning_curve,
    random_batches,
    show_thumbnails,
    zipf_subset,
)


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


def test_most_connected_and_false_negative_share():
    data = make_synthetic(n_concepts=5, pairs_per_concept=12, seed=0)
    idx, conn = most_connected(data.text_pooled, k=5)
    assert len(idx) == 5 and np.all(np.diff(conn) <= 0)
    share = false_negative_share(data.text_pooled, data.groups["concept"], gamma=0.5, batch_size=20)
    assert 0 <= share <= 1


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
    (line,) = describe_pruning(curves, gamma=0.88)
    c = curves["video"]
    assert "γ=0.90" in line and f"recall {c['recall'][1]:.3f}" in line
