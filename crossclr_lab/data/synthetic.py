"""A controlled paired video–text dataset whose false negatives are known by construction.

Generative story (all maps fixed by ``seed``, so every split shares them):

1. ``n_concepts`` concepts, each a latent vector ``c_k ~ N(0, I)`` of size ``latent_dim``.
2. Each pair ``i`` of concept ``k`` gets its own latent ``z_i = c_k + instance_spread * e_i``.
3. Text: ``t_i = W2_t tanh(W1_t z_i) + noise * n`` (``[text_dim]``).
4. Video: frame ``s`` of ``frames`` sees the latent moved along a concept-specific direction ``d_k``,
   ``z_i + motion * (2s/(frames-1) - 1) * d_k``, then ``v_is = W2_v tanh(W1_v (...)) + noise * n``
   (``[frames, video_dim]``); different random weights than the text map.

**False negatives.** A contrastive loss treats every other pair of the batch as a negative for pair ``i``.
Pairs ``j`` with the same concept as ``i`` are *false negatives*: they describe the same content (same
latent up to ``instance_spread``), so pushing them apart fights the data. ``groups["concept"]`` names
them, which is what CrossCLR's connectivity/pruning tries to find without labels; with
``instance_spread`` small relative to the spread of concepts, same-concept pairs are clearly more
similar in the input features than different-concept pairs.

Usage::

    train = make_synthetic(n_concepts=20, pairs_per_concept=10, seed=0)            # 200 pairs
    val = make_synthetic(n_concepts=20, pairs_per_concept=10, seed=0, split="val")  # same concepts, new pairs
    train.video.shape, train.text.shape, train.groups["concept"][:3]   # [200, 8, 64], [200, 48], [0, 0, 0]
"""

from __future__ import annotations

import numpy as np
import torch

from ..checks import check_choice, check_int, check_number
from .paired import PairedFeatures
from .spec import EVAL_SPLITS, DatasetSpec

SPLITS = EVAL_SPLITS


def _nonlinear_map(rng: np.random.Generator, latent_dim: int, hidden: int, out_dim: int):
    """A fixed random ``latent -> tanh(hidden) -> out`` map with unit-scale activations."""
    w1 = rng.standard_normal((latent_dim, hidden)) / np.sqrt(latent_dim)
    w2 = rng.standard_normal((hidden, out_dim)) / np.sqrt(hidden)
    return lambda z: np.tanh(z @ w1) @ w2


def make_synthetic(n_concepts: int = 20, pairs_per_concept: int = 10, noise: float = 0.5, video_dim: int = 64,
                   text_dim: int = 48, frames: int = 8, seed: int = 0, *, split: str = "train",
                   latent_dim: int = 16, instance_spread: float = 0.5, motion: float = 0.5,
                   hidden: int = 64) -> PairedFeatures:
    """``n_concepts * pairs_per_concept`` pairs, ordered by concept.

    Args:
        n_concepts: number of latent concepts (the semantic classes).
        pairs_per_concept: pairs drawn per concept; each pair of a concept is a false negative of the others.
        noise: std of the independent Gaussian noise added to every video frame and text feature.
        video_dim, text_dim: feature sizes ``Dv`` and ``Dt``.
        frames: video length ``T`` (all frames valid).
        seed: fixes the concepts and the two modality maps (the "world").
        split: ``"train"``, ``"val"`` or ``"test"`` — the same world, independently drawn pairs.
        latent_dim: size of the latent space.
        instance_spread: std of a pair's latent around its concept (0 -> all pairs of a concept coincide
            before noise).
        motion: amplitude of the per-concept latent trajectory across frames (0 -> static video).
        hidden: width of the tanh layer of the modality maps.

    Returns:
        ``PairedFeatures(name="synthetic")``: ``video [N, T, Dv]``, ``text [N, Dt]`` (float32),
        ``groups = {"concept": [int]}``, ids ``"<split>-c<k>-p<j>"``.
    """
    for name, value, minimum in [("n_concepts", n_concepts, 1), ("pairs_per_concept", pairs_per_concept, 1),
                                 ("video_dim", video_dim, 1), ("text_dim", text_dim, 1), ("frames", frames, 1),
                                 ("seed", seed, 0), ("latent_dim", latent_dim, 1), ("hidden", hidden, 1)]:
        check_int(name, value, minimum)
    for name, value in [("noise", noise), ("instance_spread", instance_spread), ("motion", motion)]:
        check_number(name, value, minimum=0.0)
    check_choice("split", split, SPLITS)

    world = np.random.default_rng([seed, 0])
    concepts = world.standard_normal((n_concepts, latent_dim))
    directions = world.standard_normal((n_concepts, latent_dim)) / np.sqrt(latent_dim)
    video_map = _nonlinear_map(world, latent_dim, hidden, video_dim)
    text_map = _nonlinear_map(world, latent_dim, hidden, text_dim)

    draw = np.random.default_rng([seed, 1 + SPLITS.index(split)])
    concept_of = np.repeat(np.arange(n_concepts), pairs_per_concept)
    n = concept_of.size
    z = concepts[concept_of] + instance_spread * draw.standard_normal((n, latent_dim))
    phase = np.linspace(-1.0, 1.0, frames) if frames > 1 else np.zeros(1)
    z_frames = z[:, None, :] + motion * phase[None, :, None] * directions[concept_of][:, None, :]
    video = video_map(z_frames) + noise * draw.standard_normal((n, frames, video_dim))
    text = text_map(z) + noise * draw.standard_normal((n, text_dim))

    pair_of = np.tile(np.arange(pairs_per_concept), n_concepts)
    return PairedFeatures(
        video=torch.from_numpy(video.astype(np.float32)),
        video_lengths=torch.full((n,), frames, dtype=torch.long),
        text=torch.from_numpy(text.astype(np.float32)),
        captions=[f"concept {k} (pair {j})" for k, j in zip(concept_of, pair_of)],
        ids=[f"{split}-c{k}-p{j}" for k, j in zip(concept_of, pair_of)],
        groups={"concept": concept_of.tolist()},
        name="synthetic",
    )


DATASET = DatasetSpec(
    name="synthetic",
    description="generated pairs with known false negatives (pairs that share a latent concept)",
    load=lambda split, data_root, **settings: make_synthetic(split=split, **settings),
    splits=lambda data_root: SPLITS, loader=make_synthetic, root="none")
