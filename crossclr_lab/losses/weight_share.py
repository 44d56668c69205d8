"""Do the paper's κ and γ suit these features? The largest share of CrossCLR's connectivity weights in a batch,
and the share of a batch that pruning removes.

CrossCLR weights sample i of a batch by ``w_i = exp(c_i / κ)``, ``c_i = C_i / Σ_j C_j`` (``C`` its connectivity,
the mean input-feature cosine to the rest of the batch). When the cosines centre on 0, ``Σ_j C_j`` is small,
the ``c_i`` large, and at the paper's κ = 3.5e-3 one sample can carry almost all of a batch's loss. The
statistic here is the largest ``w_i / Σ_j w_j`` of a batch, its median over random batches: ``1/B`` means
uniform weights, near 1 means one sample per batch takes all the weight.

The weights come from :class:`~crossclr_lab.losses.CrossCLRLoss` itself (:meth:`parts`), so what is measured is
what trains. ``Σ C <= 0`` makes the loss fall back to uniform weights; :func:`weight_share_stats` counts those
batches apart. Pruning (``Ĉ_k = C_k / max C > γ``, the paper's γ = 0.9) is measured on the same batches: when
the connectivities of a batch are nearly equal, ``Ĉ`` is near 1 for every sample, γ prunes most of the batch
and the loss has few or no negatives left (exactly 0 when all are pruned).

Usage::

    largest_weight_share(train.video_pooled)          # [N, D] -> e.g. 0.03 (fine) or 0.7 (one sample dominates)
    stats = weight_share_stats(train.video_pooled)    # median, p10, p90, fallback_fraction, median_weighted, ...
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from crossclr_lab.checks import check_int
from crossclr_lab.data.paired import random_batches
from crossclr_lab.losses.crossclr import PAPER_KAPPA, CrossCLRLoss

PAPER_GAMMA = 0.9   # γ, the pruning threshold of the paper's experiments (CrossCLRLoss's default)


def largest_weight_share(features: Tensor, batch_size: int = 64, batches: int = 100,
                         weight_temperature: float = PAPER_KAPPA, seed: int = 0) -> float:
    """Median over ``batches`` random batches of the largest share ``max_i w_i / Σ_j w_j`` of CrossCLR's weights.

    ``features [N, D]``: one modality's pooled input features. Batches of ``batch_size`` come from shuffled
    epochs (seeds ``seed``, ``seed + 1``, ...), as many as needed.
    """
    check_int("batches", batches, 1)
    index: list[np.ndarray] = []
    epoch = 0
    while len(index) < batches:
        index += random_batches(len(features), batch_size, seed=seed + epoch)[:batches - len(index)]
        epoch += 1
    shares, _, _ = batch_weight_shares(features, index, weight_temperature)
    return float(np.median(shares))


def batch_weight_shares(feat: Tensor, batches: list[np.ndarray], weight_temperature: float = PAPER_KAPPA,
                        prune_threshold: float = PAPER_GAMMA) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each index set of ``batches`` (``[n_batches]`` each): the largest weight share of CrossCLR's weighting
    on rows of ``feat [N, D]``, whether the loss fell back to uniform weights because ``Σ C <= 0`` (bool), and
    the share of the batch's samples pruning at γ = ``prune_threshold`` marks influential."""
    loss = CrossCLRLoss(prune_threshold=prune_threshold, weight_temperature=weight_temperature).eval()
    shares, fallback, pruned = [], [], []
    with torch.no_grad():
        for idx in batches:
            f = feat[torch.as_tensor(idx)].float()
            emb = torch.zeros(len(idx), 1)          # the weights and the pruning depend on the input features only
            parts = loss.parts(emb, emb, f, f)
            w = parts.weight_video
            shares.append(float(w.max() / w.sum()))
            fallback.append(bool(parts.connectivity_video.sum() <= 0))
            pruned.append(float(parts.influential_video.float().mean()))
    return np.asarray(shares), np.asarray(fallback), np.asarray(pruned)


def weight_share_stats(feat: Tensor, batch_size: int = 64, epochs: int = 10, seed: int = 0,
                       weight_temperature: float = PAPER_KAPPA, prune_threshold: float = PAPER_GAMMA) -> dict:
    """Largest weight share and pruned share over the random batches of ``epochs`` shuffled epochs of
    ``feat [N, D]``.

    Returns ``median``, ``p10``, ``p90`` of the per-batch share, ``uniform`` (``1 / batch_size``, the value
    for equal weights), ``fallback_fraction`` (share of batches with ``Σ C <= 0``, where the loss uses uniform
    weights), ``median_weighted`` (the median over the other batches, where the weighting acts; NaN if none),
    ``batches`` (how many) and ``shares`` (the per-batch values); for pruning at γ = ``prune_threshold``:
    ``pruned_median``, ``pruned_p90`` (share of a batch pruned) and ``pruned_most`` (share of batches where
    more than half is pruned).
    """
    check_int("epochs", epochs, 1)
    batches = [b for e in range(epochs) for b in random_batches(len(feat), batch_size, seed=seed + e)]
    shares, fallback, pruned = batch_weight_shares(feat, batches, weight_temperature, prune_threshold)
    p10, median, p90 = np.percentile(shares, [10, 50, 90])
    weighted = float(np.median(shares[~fallback])) if (~fallback).any() else float("nan")
    return {"median": float(median), "p10": float(p10), "p90": float(p90), "uniform": 1.0 / batch_size,
            "fallback_fraction": float(fallback.mean()), "median_weighted": weighted, "batches": len(batches),
            "shares": shares, "pruned_median": float(np.median(pruned)), "pruned_p90": float(np.percentile(pruned, 90)),
            "pruned_most": float((pruned > 0.5).mean())}
