"""How evenly CrossCLR's connectivity weighting spreads a batch's loss over its samples.

CrossCLR weights sample i of a batch by ``w_i = exp(c_i / κ)`` with ``c_i = C_i / Σ_j C_j`` (``C``: connectivity
in the input-feature space). The statistic here is the **largest weight share** ``max_i w_i / Σ_j w_j`` of a
batch: ``1 / B`` when the weights are uniform, 1 when one sample carries the whole loss. The weights come
from :class:`~crossclr_lab.losses.CrossCLRLoss` itself (its ``return_parts`` output), so what is measured is
what trains::

    stats = weight_share_stats(train.video_pooled)          # [N, D] pooled input features
    stats["median"], stats["fallback_fraction"]
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from crossclr_lab.analysis import random_batches
from crossclr_lab.losses import CrossCLRLoss


def batch_weight_shares(feat: Tensor, batches: list[np.ndarray],
                        weight_temperature: float = 3.5e-3) -> tuple[np.ndarray, np.ndarray]:
    """For each index set of ``batches``: the largest weight share ``[n_batches]`` of CrossCLR's weighting on
    rows of ``feat [N, D]``, and whether the loss fell back to uniform weights because ``Σ C <= 0`` (bool)."""
    loss = CrossCLRLoss(prune_threshold=None, weight_temperature=weight_temperature).eval()
    shares, fallback = [], []
    with torch.no_grad():
        for idx in batches:
            f = feat[torch.as_tensor(idx)].float()
            emb = torch.zeros(len(idx), 1)          # the weights depend on the input features only
            parts = loss(emb, emb, f, f, return_parts=True)
            w = parts["weight_video"]
            shares.append(float(w.max() / w.sum()))
            fallback.append(bool(parts["connectivity_video"].sum() <= 0))
    return np.asarray(shares), np.asarray(fallback)


def weight_share_stats(feat: Tensor, batch_size: int = 64, epochs: int = 10, seed: int = 0,
                       weight_temperature: float = 3.5e-3) -> dict:
    """Largest weight share over the random batches of ``epochs`` shuffled epochs of ``feat [N, D]``.

    Returns ``median``, ``p10``, ``p90`` of the per-batch share, ``uniform`` (``1 / batch_size``, the value
    for equal weights), ``fallback_fraction`` (share of batches with ``Σ C <= 0``, where the loss uses uniform
    weights), ``median_weighted`` (the median over the other batches, where the weighting acts; NaN if none),
    ``batches`` (how many) and ``shares`` (the per-batch values).
    """
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    batches = [b for e in range(epochs) for b in random_batches(len(feat), batch_size, seed=seed + e)]
    shares, fallback = batch_weight_shares(feat, batches, weight_temperature)
    p10, median, p90 = np.percentile(shares, [10, 50, 90])
    weighted = float(np.median(shares[~fallback])) if (~fallback).any() else float("nan")
    return {"median": float(median), "p10": float(p10), "p90": float(p90), "uniform": 1.0 / batch_size,
            "fallback_fraction": float(fallback.mean()), "median_weighted": weighted, "batches": len(batches),
            "shares": shares}
