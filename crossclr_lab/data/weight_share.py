"""Does the paper's κ suit these features? The largest share of CrossCLR's connectivity weights in a batch.

CrossCLR weights sample i of a batch by ``w_i = exp(c_i / κ)``, ``c_i = C_i / Σ_j C_j`` (``C`` its connectivity,
the mean input-feature cosine to the rest of the batch). When the cosines centre on 0, ``Σ_j C_j`` is small,
the ``c_i`` large, and at the paper's κ = 3.5e-3 one sample can carry almost all of a batch's loss. The
statistic here is the largest ``w_i / Σ_j w_j`` of a batch, its median over random batches: ``1/B`` means
uniform weights, near 1 means one sample per batch takes all the weight.

Usage::

    largest_weight_share(train.video_pooled)          # [N, D] -> e.g. 0.03 (fine) or 0.7 (one sample dominates)
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from crossclr_lab.data.paired import random_batches
from crossclr_lab.losses import CrossCLRLoss

PAPER_KAPPA = 3.5e-3


def largest_weight_share(features: Tensor, batch_size: int = 64, batches: int = 100,
                         weight_temperature: float = PAPER_KAPPA, seed: int = 0) -> float:
    """Median over ``batches`` random batches of the largest share ``max_i w_i / Σ_j w_j`` of CrossCLR's weights.

    ``features [N, D]``: one modality's pooled input features. Batches of ``batch_size`` come from shuffled
    epochs (seeds ``seed``, ``seed + 1``, ...). The weights are those the loss trains with:
    ``CrossCLRLoss(weight_temperature=κ).parts(...)`` (its connectivity and weighting code).
    """
    if batches < 1:
        raise ValueError(f"batches must be >= 1, got {batches}")
    loss_fn = CrossCLRLoss(weight_temperature=weight_temperature).eval()
    features = features.float()
    shares: list[float] = []
    epoch = 0
    with torch.no_grad():
        while len(shares) < batches:
            for index in random_batches(len(features), batch_size, seed=seed + epoch)[:batches - len(shares)]:
                feat = features[torch.from_numpy(index)]
                # the weights depend on the input features only; the embeddings just have to be valid
                weights = loss_fn.parts(feat, feat, feat, feat).weight_video
                shares.append(float(weights.max() / weights.sum()))
            epoch += 1
    return float(np.median(shares))
