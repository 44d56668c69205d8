"""False negatives and connectivity: what CrossCLR's pruning removes, measured against known groups.

The functions here call the loss's own :func:`~crossclr_lab.losses.connectivity` and
:func:`~crossclr_lab.losses.influential`, so what a notebook shows is what trains.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from crossclr_lab.losses import connectivity, influential


def cosine_matrix(feat: Tensor) -> Tensor:
    """Cosine similarity ``[N, N]`` of the rows of ``feat [N, D]``."""
    x = F.normalize(feat.float(), dim=1)
    return x @ x.T


def batch_connectivity(feat: Tensor, queue_feat: Tensor | None = None) -> Tensor:
    """Connectivity ``[B]`` of each row of ``feat [B, D]`` as the loss computes it (cosine, self excluded,
    averaged over the other batch rows and the rows of ``queue_feat [Q, D]``)."""
    x = F.normalize(feat.float(), dim=1)
    if queue_feat is None:
        return connectivity(x)
    q = F.normalize(queue_feat.float(), dim=1)
    return connectivity(x, q, torch.ones(len(q), dtype=torch.bool))


def _codes(groups: Sequence) -> np.ndarray:
    return np.unique(np.asarray([str(g) for g in groups]), return_inverse=True)[1].reshape(-1)


def random_batches(n: int, batch_size: int, seed: int = 0) -> list[np.ndarray]:
    """The index sets of one shuffled epoch in full batches of ``batch_size`` (the last partial one dropped)."""
    if not 2 <= batch_size <= n:
        raise ValueError(f"batch_size must be in [2, {n}] for {n} items, got {batch_size}")
    order = np.random.default_rng(seed).permutation(n)
    return [order[i:i + batch_size] for i in range(0, n - batch_size + 1, batch_size)]


def pruning_curve(feat: Tensor, groups: Sequence, thresholds: Sequence[float] = tuple(np.linspace(0.5, 1.0, 11)),
                  batch_size: int = 64, epochs: int = 1, seed: int = 0) -> dict[str, np.ndarray]:
    """How well connectivity pruning finds false negatives, over shuffled batches, for each γ.

    A *false negative* of anchor i is another batch sample k of the same group (same concept: the loss
    treats it as a negative although its content matches). Pruning removes every influential k
    (``C_k / max C > γ``) from every anchor's negatives. Per γ, summed over batches:

    - ``pruned_fraction``: share of batch samples marked influential;
    - ``precision``: share of removed (anchor, negative) pairs that are false negatives;
    - ``recall``: share of all false-negative pairs that pruning removes;
    - ``base_rate``: share of all (anchor, negative) pairs that are false negatives — the precision of
      pruning at random, the line a useful γ must beat.

    ``feat [N, D]`` are the pooled input features, ``groups`` one label per row. Returns arrays ``[len(thresholds)]``
    (``precision`` is NaN where nothing is pruned).
    """
    if len(groups) != len(feat):
        raise ValueError(f"groups must hold one label per row: {len(groups)} labels for {len(feat)} rows")
    codes = torch.as_tensor(_codes(groups))
    thresholds = np.asarray(thresholds, dtype=float)
    removed = np.zeros(len(thresholds))
    removed_false = np.zeros(len(thresholds))
    marked = np.zeros(len(thresholds))
    all_pairs = all_false = samples = 0
    for epoch in range(epochs):
        for idx in random_batches(len(feat), batch_size, seed + epoch):
            idx = torch.as_tensor(idx)
            conn = batch_connectivity(feat[idx])
            same = codes[idx][:, None] == codes[idx][None, :]
            same.fill_diagonal_(False)
            false_per_negative = same.sum(0).numpy()          # anchors for which sample k is a false negative
            b = len(idx)
            all_pairs += b * (b - 1)
            all_false += int(same.sum())
            samples += b
            for j, gamma in enumerate(thresholds):
                infl = influential(conn, float(gamma)).numpy()
                marked[j] += infl.sum()
                removed[j] += infl.sum() * (b - 1)
                removed_false[j] += false_per_negative[infl].sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(removed > 0, removed_false / np.maximum(removed, 1), np.nan)
    return {"threshold": thresholds, "pruned_fraction": marked / samples, "precision": precision,
            "recall": removed_false / max(all_false, 1), "base_rate": np.full(len(thresholds), all_false / all_pairs)}


def most_connected(feat: Tensor, k: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """Indices and connectivity of the ``k`` most connected rows of ``feat [N, D]`` over the whole set."""
    conn = batch_connectivity(feat)
    order = torch.argsort(conn, descending=True)[:k]
    return order.numpy(), conn[order].numpy()


def false_negative_share(feat: Tensor, groups: Sequence, gamma: float, batch_size: int = 64, seed: int = 0) -> float:
    """Share of the influential samples (at γ) that have a same-group partner in their batch, i.e. that are
    a false negative for at least one anchor."""
    codes = torch.as_tensor(_codes(groups))
    hit = total = 0
    for idx in random_batches(len(feat), batch_size, seed):
        idx = torch.as_tensor(idx)
        infl = influential(batch_connectivity(feat[idx]), gamma)
        same = codes[idx][:, None] == codes[idx][None, :]
        same.fill_diagonal_(False)
        hit += int((same.any(0) & infl).sum())
        total += int(infl.sum())
    return hit / total if total else float("nan")
