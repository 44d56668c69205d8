"""Embedding maps: concept tightness against brute force and known geometry, concept sampling, UMAP, plots, widget."""

import itertools
import warnings

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from PIL import Image

from crossclr_lab.data.paired import PairedFeatures
from crossclr_lab.lab.embedding_maps import (
    concept_tightness,
    exact_neighbours,
    joint_umap,
    map_widget,
    modality_gap_table,
    modality_gap_verdict,
    plot_joint_maps,
    sample_concepts,
    tightness_findings,
    tightness_table,
    tightness_verdict,
)
from crossclr_lab.lab.findings import check_claims


def _clusters(n_concepts=4, per=5, dim=8, spread=0.05, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_concepts, dim)) * 3
    labels = np.repeat(np.arange(n_concepts), per)
    return centres[labels] + spread * rng.standard_normal((len(labels), dim)), labels


def _cosine_distance(a, b):
    return 1 - a @ b / (np.linalg.norm(a) * np.linalg.norm(b))


def test_tightness_matches_brute_force():
    x, labels = _clusters(n_concepts=3, per=4, spread=1.0, seed=1)
    labels = labels.tolist() + [7]          # a singleton concept: counts for inter, not for intra
    x = np.concatenate([x, np.random.default_rng(2).standard_normal((1, x.shape[1]))])
    out = concept_tightness(x, labels)
    intra_per_concept, inter = [], []
    for c in (0, 1, 2):
        members = [i for i, g in enumerate(labels) if g == c]
        intra_per_concept.append(np.mean([_cosine_distance(x[i], x[j]) for i, j in itertools.permutations(members, 2)]))
    for i, j in itertools.permutations(range(len(labels)), 2):
        if labels[i] != labels[j]:
            inter.append(_cosine_distance(x[i], x[j]))
    assert out["intra"] == pytest.approx(np.mean(intra_per_concept), rel=1e-6)
    assert out["inter"] == pytest.approx(np.mean(inter), rel=1e-6)
    assert out["ratio"] == pytest.approx(out["intra"] / out["inter"])
    assert out["n_concepts"] == 3


def test_tight_clusters_score_tight_and_shuffled_labels_do_not():
    x, labels = _clusters(spread=0.01)
    tight = concept_tightness(torch.from_numpy(x).float(), labels)
    assert tight["ratio"] < 0.05 and tight["silhouette"] > 0.9
    shuffled = concept_tightness(x, np.random.default_rng(0).permutation(labels))
    assert shuffled["ratio"] > 0.6 and shuffled["silhouette"] < 0.2


def test_tightness_rejects_bad_input():
    x, labels = _clusters()
    with pytest.raises(ValueError, match="one label per row"):
        concept_tightness(x, labels[:-1])
    with pytest.raises(ValueError, match="2 concepts"):
        concept_tightness(x, [0] * len(x))
    with pytest.raises(ValueError, match="at least one concept with >= 2"):
        concept_tightness(x[:3], [0, 1, 2])
    with pytest.raises(ValueError, match="NaN"):
        concept_tightness(np.full_like(x, np.nan), labels)


def test_tightness_table_repeats_labels_for_joint_spaces():
    x, labels = _clusters()
    rows = tightness_table({"video": x, "joint": np.concatenate([x, x + 0.01])}, labels)
    assert [r["space"] for r in rows] == ["video", "joint"]
    assert rows[1]["ratio"] < 0.1
    assert "| joint |" in tightness_findings(rows).markdown()
    with pytest.raises(ValueError, match="multiple"):
        tightness_table({"bad": x[:-1]}, labels)


def test_sample_concepts_keeps_whole_concepts():
    labels = ["a"] * 3 + ["b"] * 5 + ["c"] * 2 + ["d"] * 4
    idx = sample_concepts(labels, max_points=7, seed=3)
    assert len(idx) <= 7 and np.all(np.diff(idx) > 0)
    chosen = {labels[i] for i in idx}
    for c in chosen:   # every variant of a chosen concept is in
        assert sum(labels[i] == c for i in idx) == labels.count(c)
    assert np.array_equal(idx, sample_concepts(labels, 7, seed=3))
    assert np.array_equal(sample_concepts(labels, 100), np.arange(len(labels)))
    assert len(sample_concepts(["x"] * 10, 4)) == 4          # one concept larger than the budget is cut
    with pytest.raises(ValueError):
        sample_concepts(labels, 0)


def _features(n_concepts=4, per=5, thumbnails=True):
    x, labels = _clusters(n_concepts, per, dim=6)
    n = len(labels)

    def thumb(i):
        if i == 0:
            raise ValueError("no thumbnail for this clip")
        return Image.new("RGBA", (8, 8), (40 * (labels[i] % 6), 90, 200, 255))

    return PairedFeatures(video=torch.from_numpy(x).float()[:, None, :], video_lengths=torch.ones(n, dtype=torch.long),
                          text=torch.from_numpy(x).float(), captions=[f"concept {g}" for g in labels],
                          ids=[str(i) for i in range(n)], groups={"concept": labels.tolist(),
                                                                   "half": (labels % 2).tolist()},
                          name="toy", thumbnail_fn=thumb if thumbnails else None)


def _maps(n, names=("A", "B")):
    rng = np.random.default_rng(0)
    return {name: (rng.standard_normal((n, 2)), rng.standard_normal((n, 2))) for name in names}


def test_plot_joint_maps_thumbnails_and_colours():
    feats = _features()
    fig = plot_joint_maps(_maps(len(feats)), feats)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "video clip without a picture (1)" in legend and "text" in legend
    assert "video–text pair (12 of 20 highlighted)" in legend                 # lines for a subset only
    assert len(fig.axes[0].collections[0].get_segments()) == 12
    assert not any("thumbnail" in entry for entry in legend)                 # only what is drawn is listed
    fig = plot_joint_maps(_maps(len(feats), ("only",)), feats, color_by="concept", pair_lines=False, max_colours=2)
    assert len(fig.axes) == 1
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    counts = np.bincount(feats.groups["concept"])
    assert legend[2:4] == [f"{g} ({counts[g]})" for g in np.argsort(-counts, kind="stable")[:2]]
    assert legend[4] == f"{len(counts) - 2} other concept groups ({len(feats) - np.sort(counts)[::-1][:2].sum()})"
    fig = plot_joint_maps(_maps(len(feats)), feats, subset=[1, 2, 3])
    assert fig.axes[0].get_title().startswith("A: 3 pairs")


def test_pictures_do_not_pile_up():
    from matplotlib.offsetbox import AnnotationBbox

    feats = _features()
    n = len(feats)
    crowded = {"A": (np.zeros((n, 2)) + 1e-3 * np.arange(n)[:, None], np.ones((n, 2)))}   # all clips in one spot
    fig = plot_joint_maps(crowded, feats)
    pictures = [a for a in fig.axes[0].artists if isinstance(a, AnnotationBbox)]
    assert len(pictures) == 1
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert f"clip drawn as a dot: its picture would cover another ({n - 2})" in legend   # clip 0 has no picture


def test_tightness_and_gap_verdicts_agree_with_their_tables():
    x, labels = _clusters(n_concepts=4, per=5, spread=0.5)
    rng = np.random.default_rng(3)
    spaces = {"input · video": x, "input · text": x + rng.standard_normal(x.shape),
              "A · video": x + 0.1 * rng.standard_normal(x.shape), "A · text": x + 2 * rng.standard_normal(x.shape),
              "B · video": rng.standard_normal(x.shape), "B · text": x}
    table = tightness_findings(tightness_table(spaces, labels))
    verdict = tightness_verdict(table, models=("A", "B"))
    assert verdict.claims and check_claims({table.name: table.markdown()}, verdict) == []
    assert "B is **looser**" in verdict.text.split("**video**")[1].split("\n")[0]
    embeddings = {"near": (torch.from_numpy(x).float(), torch.from_numpy(x + 0.01).float()),
                  "far": (torch.from_numpy(x).float(), torch.from_numpy(rng.standard_normal(x.shape)).float())}
    gap = modality_gap_table(embeddings)
    gap_verdict = modality_gap_verdict(gap)
    assert check_claims({gap.name: gap.markdown()}, gap_verdict) == []
    assert "a clip is closer to its own caption" in gap_verdict.text.split("**far**")[0]
    wrong = gap.markdown().replace(gap.rows[0][1], "0.00", 1)                 # the verdict no longer fits
    assert check_claims({gap.name: wrong}, gap_verdict)


def test_plot_joint_maps_validates():
    feats = _features(thumbnails=False)
    with pytest.raises(ValueError, match="no thumbnails"):
        plot_joint_maps(_maps(len(feats)), feats)
    with pytest.raises(ValueError, match="not a group"):
        plot_joint_maps(_maps(len(feats)), feats, color_by="nope")
    with pytest.raises(ValueError, match=r"\[20, 2\]"):
        plot_joint_maps(_maps(len(feats) - 1), feats, color_by="concept")
    with pytest.raises(ValueError, match="empty"):
        plot_joint_maps({}, feats)


def test_map_widget_draws_each_view_once():
    from crossclr_lab.lab.embedding_maps import MapWidget

    feats = _features()
    ui = MapWidget(_maps(len(feats)), feats, color_by="concept", prerender=False)
    first, png = ui.figure, bytes(ui.image.value)
    assert isinstance(first, Figure) and ui.color_by.options[0] == "thumbnails" and png.startswith(b"\x89PNG")
    ui.color_by.value = "thumbnails"
    assert isinstance(ui.figure, Figure) and ui.figure is not first and bytes(ui.image.value) != png
    ui.pair_lines.value = False                       # pair lines off
    assert not any(t.get_text().startswith("video–text pair") for t in ui.figure.axes[0].get_legend().get_texts())
    ui.color_by.value = "concept"
    ui.pair_lines.value = True                        # a view seen before: from the cache, not drawn again
    assert ui.figure is None and bytes(ui.image.value) == png
    ready = map_widget(_maps(len(feats)), feats)      # the background thread draws every view
    ready.prerendering.join(timeout=300)
    assert len(ready._png) == 6                       # 3 choices x pair lines on/off
    with pytest.raises(ValueError, match="color_by"):
        map_widget(_maps(len(feats)), feats, color_by="nope")


@pytest.mark.slow
def test_joint_umap_is_reproducible_and_keeps_clusters():
    video, labels = _clusters(n_concepts=3, per=10, dim=16, spread=0.05)
    text = video + 0.05 * np.random.default_rng(1).standard_normal(video.shape)
    vxy, txy = joint_umap(video, text, n_neighbors=8, random_state=0)
    assert vxy.shape == txy.shape == (30, 2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = joint_umap(video, text, n_neighbors=8, random_state=0)
    assert [str(w.message) for w in caught] == []          # nothing for a learner to wonder about
    np.testing.assert_allclose(vxy, again[0])
    # each mapped video's nearest mapped neighbour belongs to its own concept
    d = np.linalg.norm(vxy[:, None] - vxy[None], axis=-1) + np.eye(len(vxy)) * 1e9
    assert (labels[d.argmin(1)] == labels).mean() == 1.0
    with pytest.raises(ValueError, match="same|both"):
        joint_umap(video, text[:-1])


def test_exact_neighbours_are_the_sorted_rows():
    rng = np.random.default_rng(0)
    points = rng.standard_normal((12, 3))
    distances = np.linalg.norm(points[:, None] - points[None], axis=-1)
    indices, dists = exact_neighbours(distances, 4)
    assert indices.shape == dists.shape == (12, 4)
    assert (indices[:, 0] == np.arange(12)).all() and (dists[:, 0] == 0).all()   # each point is its own first
    for row in range(12):   # brute force: the 4 smallest distances of the row, in increasing order
        np.testing.assert_array_equal(dists[row], np.sort(distances[row])[:4])
        np.testing.assert_array_equal(distances[row, indices[row]], dists[row])


@pytest.mark.slow
def test_exact_neighbours_are_the_ones_umap_finds_itself():
    from sklearn.metrics import pairwise_distances
    from umap.umap_ import nearest_neighbors

    video, _ = _clusters(n_concepts=3, per=10, dim=16, spread=0.05)
    distances = pairwise_distances(video, metric="cosine")
    indices, dists, _ = nearest_neighbors(distances, 8, "precomputed", {}, False, np.random.RandomState(0))
    ours = exact_neighbours(distances, 8)
    np.testing.assert_array_equal(ours[0], indices)
    np.testing.assert_array_equal(ours[1], dists)
