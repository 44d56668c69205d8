"""Synthetic paired data: shapes, determinism, splits of one world, measurable false negatives, validation."""

import math

import pytest
import torch
import torch.nn.functional as F

from crossclr_lab.data import make_synthetic


def _same_vs_other_concept_cosine(x: torch.Tensor, concept: list[int]) -> tuple[float, float]:
    """Mean cosine between distinct same-concept items and between different-concept items (centred x)."""
    x = F.normalize(x - x.mean(0), dim=1)
    sim = x @ x.T
    c = torch.tensor(concept)
    same = c[:, None] == c[None, :]
    off_diag = ~torch.eye(len(c), dtype=torch.bool)
    return sim[same & off_diag].mean().item(), sim[~same].mean().item()


def test_shapes_groups_and_ids():
    data = make_synthetic(n_concepts=5, pairs_per_concept=4, video_dim=12, text_dim=7, frames=6)
    assert data.name == "synthetic" and len(data) == 20
    assert data.video.shape == (20, 6, 12) and data.video.dtype == torch.float32
    assert data.text.shape == (20, 7) and data.text.dtype == torch.float32
    assert data.video_lengths.tolist() == [6] * 20
    assert data.video_pooled.shape == (20, 12) and data.text_pooled.shape == (20, 7)
    assert data.groups["concept"] == [k for k in range(5) for _ in range(4)]
    assert len(set(data.ids)) == 20 and data.ids[0] == "train-c0-p0"
    assert torch.isfinite(data.video).all() and torch.isfinite(data.text).all()


def test_deterministic_for_a_seed():
    a, b = make_synthetic(seed=3), make_synthetic(seed=3)
    assert torch.equal(a.video, b.video) and torch.equal(a.text, b.text) and a.ids == b.ids
    c = make_synthetic(seed=4)
    assert not torch.allclose(a.video, c.video)


def test_splits_are_new_pairs_of_the_same_concepts():
    train, val = make_synthetic(seed=0), make_synthetic(seed=0, split="val")
    assert train.groups == val.groups and not torch.allclose(train.text, val.text)
    # Per-concept means of the two splits match each other far better than other concepts' means.
    concept = torch.tensor(train.groups["concept"])
    means = [torch.stack([d.text[concept == k].mean(0) for k in range(20)]) for d in (train, val)]
    sim = F.normalize(means[0], dim=1) @ F.normalize(means[1], dim=1).T
    assert (sim.argmax(1) == torch.arange(20)).all()


@pytest.mark.parametrize("kwargs", [{}, {"noise": 1.0}, {"instance_spread": 1.0, "motion": 1.0}])
def test_same_concept_pairs_are_more_similar_in_input_space(kwargs):
    data = make_synthetic(**kwargs)
    for feats in (data.video_pooled, data.text_pooled):
        same, other = _same_vs_other_concept_cosine(feats, data.groups["concept"])
        assert same > other + 0.15, (same, other)


def test_noise_controls_how_visible_the_false_negatives_are():
    gaps = []
    for noise in (0.1, 0.5, 2.0):
        data = make_synthetic(noise=noise)
        same, other = _same_vs_other_concept_cosine(data.text_pooled, data.groups["concept"])
        gaps.append(same - other)
    assert gaps[0] > gaps[1] > gaps[2]


def test_exact_false_negatives_without_variation():
    data = make_synthetic(n_concepts=3, pairs_per_concept=4, noise=0.0, instance_spread=0.0)
    for k in range(3):
        rows = slice(4 * k, 4 * k + 4)
        assert torch.allclose(data.text[rows], data.text[4 * k].expand(4, -1))
        assert torch.allclose(data.video[rows], data.video[4 * k].expand(4, -1, -1))
    assert not torch.allclose(data.text[0], data.text[4])


def test_video_has_temporal_structure_only_with_motion():
    moving = make_synthetic(noise=0.0, motion=0.5)
    static = make_synthetic(noise=0.0, motion=0.0)
    assert (moving.video[:, 0] - moving.video[:, -1]).abs().mean() > 0.05
    assert torch.allclose(static.video[:, 0], static.video[:, -1])


@pytest.mark.parametrize("kwargs, match", [
    ({"n_concepts": 0}, "n_concepts"), ({"pairs_per_concept": 0}, "pairs_per_concept"),
    ({"noise": -0.1}, "noise"), ({"noise": math.nan}, "noise"), ({"frames": 0}, "frames"),
    ({"video_dim": 2.5}, "video_dim"), ({"text_dim": True}, "text_dim"), ({"seed": -1}, "seed"),
    ({"split": "dev"}, "split must be one of"), ({"instance_spread": -1}, "instance_spread"),
    ({"latent_dim": 0}, "latent_dim"), ({"motion": "a lot"}, "motion"),
])
def test_argument_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_synthetic(**kwargs)
