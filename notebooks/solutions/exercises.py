"""Solutions to the notebooks' "implement it yourself" exercises (checked by crossclr_lab.lab.exercises).

Try the exercises first: each notebook's last section has a stub and a checker that tells you what is wrong.
Each solution is written for reading: plain torch, one formula per line, no library call that does the work.
"""

import math

import scipy.stats
import torch
import torch.nn.functional as F


def connectivity(feat):
    """01: C_i, the mean cosine similarity of row i of ``feat [B, D]`` to the other rows -> ``[B]``."""
    x = F.normalize(feat, dim=1)                 # cosine = dot product of unit vectors
    sims = x @ x.T                               # [B, B], diagonal = 1 (each row with itself)
    return (sims.sum(1) - sims.diagonal()) / (len(x) - 1)


def pruning_mask(conn, gamma):
    """01: influential samples: connectivity divided by the batch maximum, strictly above γ -> bool ``[B]``."""
    return conn / conn.max() > gamma


def anchor_loss(v, t, i, tau, lam, pruned):
    """02: CrossCLR's loss of video anchor ``i`` (no weighting, no queue).

    ``v``, ``t`` [B, D] embeddings, ``tau`` the temperature, ``lam`` the intra-modality weight λ, ``pruned`` [B]
    bool (influential samples, left out of both negative sets; the anchor's own positive always stays).
    """
    v, t = F.normalize(v, dim=1), F.normalize(t, dim=1)
    positive = torch.exp(v[i] @ t[i] / tau)
    negatives = (torch.arange(len(v)) != i) & ~pruned              # k ≠ i and not pruned
    inter = torch.exp(v[i] @ t[negatives].T / tau).sum()           # other captions
    intra = lam * torch.exp(v[i] @ v[negatives].T / tau).sum()     # other videos, each times λ
    return float(-torch.log(positive / (positive + inter + intra)))


def paired_difference(a, b):
    """03: per-seed differences a[s] − b[s] -> (mean, standard error, a paired t-test at 5 % rejects 0, >= 3 seeds)."""
    diffs = [x - y for x, y in zip(a, b)]
    n = len(diffs)
    mean = sum(diffs) / n
    std = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1))
    sem = std / math.sqrt(n)
    t_crit = scipy.stats.t.ppf(0.975, n - 1)                       # two-sided 5 %, n − 1 degrees of freedom
    return mean, sem, n >= 3 and abs(mean) > t_crit * sem


def tightness_ratio(emb, labels):
    """04: mean cosine distance within a concept (per concept, then averaged) / mean distance across concepts."""
    x = F.normalize(emb, dim=1)
    dist = 1 - x @ x.T                                              # cosine distance [N, N]
    labels = list(labels)
    same = torch.tensor([[a == b for b in labels] for a in labels])
    intra = []
    for concept in set(labels):
        members = torch.tensor([lab == concept for lab in labels])
        k = int(members.sum())
        if k >= 2:                                                   # pairs of distinct items: leave out the 0 diagonal
            intra.append(dist[members][:, members].sum() / (k * (k - 1)))
    return float(torch.stack(intra).mean() / dist[~same].mean())


def recall_at_k(video_emb, text_emb, k):
    """05: text→video R@K in %: the share of captions whose own clip (same row) is among the k most similar."""
    v, t = F.normalize(video_emb, dim=1), F.normalize(text_emb, dim=1)
    sims = t @ v.T                                                  # [captions, clips]
    own = sims.diagonal()[:, None]                                  # each caption's score for its own clip
    rank = 1 + ((sims >= own).sum(1) - 1)                           # 1 + other clips scoring at least as high
    return 100.0 * float((rank <= k).double().mean())


def repetition_at_4(captions):
    """07: RE@4 x100: per caption the share of 4-gram occurrences repeating an earlier one, averaged over captions."""
    shares = []
    for caption in captions:
        words = caption.split()
        grams = [tuple(words[i:i + 4]) for i in range(len(words) - 3)]
        shares.append((len(grams) - len(set(grams))) / len(grams) if grams else 0.0)   # Σ (c_g − 1) / Σ c_g
    return 100.0 * sum(shares) / len(shares)


def largest_weight_share(feat, kappa):
    """08: max_i w_i / Σ_j w_j with w_i = exp(c_i / κ), c_i = C_i / Σ_j C_j (uniform weights when Σ C <= 0)."""
    x = F.normalize(feat, dim=1)
    sims = x @ x.T
    conn = (sims.sum(1) - sims.diagonal()) / (len(x) - 1)          # C_i: mean cosine to the other rows
    if conn.sum() <= 0:
        return 1.0 / len(x)                                        # the loss falls back to uniform weights
    w = torch.softmax(conn / conn.sum() / kappa, dim=0)            # exp(c_i / κ) / Σ_j exp(c_j / κ), overflow-safe
    return float(w.max())

