"""Retrieval metrics for paired embeddings: R@K, median and mean rank, semantic (group-level) recall, R@K
curves, chance levels, and the metric vocabulary (directions, labels, which metrics are lower-is-better).

Pair i is video i and text i; similarity is cosine. Ranks are 1-based and ties are broken
pessimistically: rank = 1 + the number of *other* gallery items scoring >= the true one.
Queries are processed in chunks, so 20k × 20k never materialises a full similarity matrix.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Sequence

import numpy as np
import torch
from torch import Tensor

from crossclr_lab.checks import check_int
from crossclr_lab.data.paired import group_codes
from crossclr_lab.utils import l2_normalize

DIRECTIONS = ("t2v", "v2t")
DIRECTION_NAMES = {"t2v": "text → video", "v2t": "video → text"}
METRIC_LABELS = {"t2v_r1": "T→V R@1", "t2v_r5": "T→V R@5", "t2v_r10": "T→V R@10", "t2v_medr": "T→V MedR",
                 "v2t_r1": "V→T R@1", "v2t_r5": "V→T R@5", "v2t_r10": "V→T R@10", "v2t_medr": "V→T MedR",
                 "t2v_sem_r1": "T→V sem R@1", "v2t_sem_r1": "V→T sem R@1", "rsum": "R-sum"}
_RANK_METRICS = ("medr", "mnr")  # metric-name endings of ranks, where lower is better


def lower_is_better(metric: str) -> bool:
    """Whether a smaller value of ``metric`` (e.g. ``"t2v_medr"``) is better: ranks yes, recalls no."""
    return metric.endswith(_RANK_METRICS)


def metric_label(metric: str) -> str:
    """A display label, e.g. ``"t2v_r1"`` → ``"T→V R@1"`` (the name itself when it has none)."""
    return METRIC_LABELS.get(metric, metric)


def _check(video_emb: Tensor, text_emb: Tensor, groups: Sequence | None) -> None:
    for name, x in (("video_emb", video_emb), ("text_emb", text_emb)):
        if not isinstance(x, Tensor) or x.dim() != 2:
            raise ValueError(f"{name} must be a tensor of shape [N, D]")
    if video_emb.shape != text_emb.shape:
        raise ValueError(f"video_emb {tuple(video_emb.shape)} and text_emb {tuple(text_emb.shape)} must have the "
                         "same shape [N, D]: row i of each is one pair")
    if len(video_emb) == 0:
        raise ValueError("retrieval metrics need at least one pair, got N=0")
    if not (torch.isfinite(video_emb).all() and torch.isfinite(text_emb).all()):
        raise ValueError("embeddings contain NaN or Inf values")
    _check_groups(groups, len(video_emb))


def _check_groups(groups, n: int) -> None:
    """``ValueError`` unless ``groups`` is ``None`` or a sequence (list, tuple, array, tensor) of ``n`` labels."""
    if groups is None:
        return
    if isinstance(groups, (Mapping, str, bytes, set, frozenset)) or not hasattr(groups, "__len__"):
        raise ValueError(f"groups must be a sequence of one label per pair (e.g. data.groups['concept']), got a "
                         f"{type(groups).__name__}")
    if len(groups) != n:
        raise ValueError(f"groups must hold one label per pair: got {len(groups)} labels for {n} pairs")


@torch.no_grad()
def retrieval_ranks(query: Tensor, gallery: Tensor, groups: Sequence | None = None,
                    chunk_size: int = 1024) -> Tensor:
    """Rank ``[N]`` (long, 1-based) of gallery item i for query i.

    ``query [N, D]``, ``gallery [N, D]`` (normalised inside). With ``groups`` the rank is semantic: the
    position of the best-scoring gallery item that shares the query's group, counting only items of
    *other* groups that score at least as high (ties again go against the query).
    """
    check_int("chunk_size", chunk_size, minimum=1)
    if not (isinstance(query, Tensor) and isinstance(gallery, Tensor) and query.dim() == gallery.dim() == 2
            and query.shape == gallery.shape):
        shapes = [tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__ for x in (query, gallery)]
        raise ValueError(f"query {shapes[0]} and gallery {shapes[1]} must be tensors of the same shape [N, D]: "
                         "gallery item i is query i's match")
    _check_groups(groups, len(query))
    for name, x in (("query", query), ("gallery", gallery)):
        if not torch.isfinite(x).all():
            raise ValueError(f"{name} embeddings contain NaN or Inf values: their ranks would be meaningless")
    q = l2_normalize(query.float(), dim=1)  # exact for huge finite values too (scaled before the norm)
    g = l2_normalize(gallery.float(), dim=1)
    codes = None if groups is None else torch.as_tensor(group_codes(groups), device=q.device)
    ranks = []
    for start in range(0, len(q), chunk_size):
        rows = torch.arange(start, min(start + chunk_size, len(q)), device=q.device)
        scores = q[rows] @ g.T                                             # [c, N]
        if codes is None:
            target = scores.gather(1, rows[:, None])
            # the true item itself + the others scoring >= it; an int32 count (a bool sum makes an int64 copy)
            ranks.append((scores >= target).sum(1, dtype=torch.int32))
        else:
            same = codes[rows][:, None] == codes[None, :]
            best = scores.masked_fill(~same, float("-inf")).amax(1, keepdim=True)
            ranks.append(((scores >= best) & ~same).sum(1, dtype=torch.int32) + 1)
    return torch.cat(ranks).long().cpu()


def _summary(prefix: str, ranks: Tensor, ks=(1, 5, 10)) -> dict[str, float]:
    r = ranks.double()
    out = {f"{prefix}_r{k}": float((r <= k).double().mean() * 100) for k in ks}
    if not prefix.endswith("_sem"):
        out[f"{prefix}_medr"] = float(np.median(r.numpy()))
        out[f"{prefix}_mnr"] = float(r.mean())
    return out


def retrieval_metrics(video_emb: Tensor, text_emb: Tensor, groups: Sequence | None = None,
                      chunk_size: int = 1024) -> dict[str, float]:
    """Text→video and video→text retrieval metrics for paired embeddings ``[N, D]``.

    Returns a flat dict of floats: ``t2v_r1, t2v_r5, t2v_r10`` (percent, 0–100), ``t2v_medr``,
    ``t2v_mnr`` (1-based ranks) and the same with ``v2t_``, and ``rsum`` (the sum of R@1/5/10 both ways, the
    usual single number for model selection). With ``groups`` (one label per pair) also ``t2v_sem_r1/5/10``
    and ``v2t_sem_r1/5/10``: a hit when any of the top K shares the query's group.

    Example::

        m = retrieval_metrics(video_emb, text_emb, groups=data.groups["concept"])
        m["t2v_r1"]
    """
    _check(video_emb, text_emb, groups)
    out: dict[str, float] = {}
    for direction, (query, gallery) in zip(DIRECTIONS, ((text_emb, video_emb), (video_emb, text_emb))):
        out.update(_summary(direction, retrieval_ranks(query, gallery, chunk_size=chunk_size)))
        if groups is not None:
            out.update(_summary(f"{direction}_sem", retrieval_ranks(query, gallery, groups, chunk_size)))
    out["rsum"] = sum(out[f"{d}_r{k}"] for d in DIRECTIONS for k in (1, 5, 10))
    return out


def recall_curve(video_emb: Tensor, text_emb: Tensor, direction: str = "t2v", groups: Sequence | None = None,
                 max_k: int | None = None, chunk_size: int = 1024) -> np.ndarray:
    """R@K in percent for K = 1..max_k (default N) as a float array ``[max_k]``; index K-1 holds R@K.

    ``direction`` is ``"t2v"`` (text queries) or ``"v2t"``; with ``groups`` the curve is semantic.
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    _check(video_emb, text_emb, groups)
    n = len(video_emb)
    max_k = n if max_k is None else int(max_k)
    if max_k < 1:
        raise ValueError(f"max_k must be >= 1, got {max_k}")
    query, gallery = (text_emb, video_emb) if direction == "t2v" else (video_emb, text_emb)
    ranks = retrieval_ranks(query, gallery, groups, chunk_size).numpy()
    hits = np.bincount(np.minimum(ranks, max_k + 1) - 1, minlength=max_k + 1)[:max_k]
    return np.cumsum(hits) / n * 100.0


def recall_curves(embeddings: dict[str, tuple[Tensor, Tensor]], groups: Sequence | None = None,
                  max_k: int = 100) -> dict[str, dict[str, np.ndarray]]:
    """``{model: (video_emb [N, D], text_emb [N, D])}`` → ``{model: {"t2v": [K], "v2t": [K], "t2v_sem": ...}}``.

    Curves hold R@K in percent for K = 1..min(max_k, N); the ``*_sem`` curves need ``groups`` (one label per pair).
    """
    if not embeddings:
        raise ValueError("embeddings is empty: pass {model name: (video_emb, text_emb)}")
    if max_k < 1:
        raise ValueError(f"max_k must be >= 1, got {max_k}")
    out = {}
    for name, (video_emb, text_emb) in embeddings.items():
        k = min(max_k, len(video_emb))
        curves = {d: recall_curve(video_emb, text_emb, direction=d, max_k=k) for d in DIRECTIONS}
        if groups is not None:
            curves.update({f"{d}_sem": recall_curve(video_emb, text_emb, direction=d, groups=groups, max_k=k)
                           for d in DIRECTIONS})
        out[name] = curves
    return out


def chance_metrics(n: int, ks=(1, 5, 10)) -> dict[str, float]:
    """Expected R@K (percent) and MedR of a random ranking over a gallery of ``n`` items."""
    out = {f"r{k}": min(k, n) / n * 100 for k in ks}
    out["medr"] = (n + 1) / 2
    return out


def chance_levels(n: int, groups: Sequence | None = None) -> dict[str, float]:
    """Expected metrics of a random ranking of ``n`` pairs, named like :func:`retrieval_metrics`' keys
    (recalls in %); with ``groups`` also the semantic R@1 (the top item shares the query's group)."""
    chance = {}
    for d in DIRECTIONS:
        chance.update({f"{d}_{k}": v for k, v in chance_metrics(n).items()})
        if groups is not None:
            # the top-1 item is uniform over n; it shares the query's group with probability n_g / n
            chance[f"{d}_sem_r1"] = 100.0 * sum((c / n) ** 2 for c in Counter(groups).values())
    return chance
