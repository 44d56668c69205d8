"""Companion of notebook 01 (false negatives): what CrossCLR's pruning removes, measured against known groups,
and the figures that show it.

The functions here call the loss's own :func:`~crossclr_lab.losses.connectivity` and
:func:`~crossclr_lab.losses.influential`, so what a notebook shows is what trains.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import Tensor

from crossclr_lab.data.paired import group_codes, random_batches
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
    codes = torch.as_tensor(group_codes(groups))
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


def zipf_subset(data, group: str = "concept", largest: int = 80, exponent: float = 1.0, minimum: int = 2):
    """A subset of ``data`` (:class:`~crossclr_lab.data.PairedFeatures`) whose groups have Zipf-like sizes:
    the k-th group (in order of first appearance, k = 1, 2, ...) keeps ``largest / k**exponent + minimum``
    of its items (at most all of them). Frequent concepts make dense regions, as in real data."""
    codes = group_codes(data.groups[group])
    firsts = sorted(np.unique(codes), key=lambda c: np.flatnonzero(codes == c)[0])
    keep = [np.flatnonzero(codes == c)[:int(largest / (k + 1) ** exponent) + minimum] for k, c in enumerate(firsts)]
    return data.subset(np.sort(np.concatenate(keep)))


def most_connected(feat: Tensor, k: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """Indices and connectivity of the ``k`` most connected rows of ``feat [N, D]`` over the whole set."""
    conn = batch_connectivity(feat)
    order = torch.argsort(conn, descending=True)[:k]
    return order.numpy(), conn[order].numpy()


def false_negative_share(feat: Tensor, groups: Sequence, gamma: float, batch_size: int = 64, seed: int = 0) -> float:
    """Share of the influential samples (at γ) that have a same-group partner in their batch, i.e. that are
    a false negative for at least one anchor."""
    codes = torch.as_tensor(group_codes(groups))
    hit = total = 0
    for idx in random_batches(len(feat), batch_size, seed):
        idx = torch.as_tensor(idx)
        infl = influential(batch_connectivity(feat[idx]), gamma)
        same = codes[idx][:, None] == codes[idx][None, :]
        same.fill_diagonal_(False)
        hit += int((same.any(0) & infl).sum())
        total += int(infl.sum())
    return hit / total if total else float("nan")


def describe_pruning(curves: dict[str, dict], gamma: float) -> list[str]:
    """One line per :func:`pruning_curve` in ``curves`` at the threshold closest to ``gamma``: the share pruned,
    precision against the base rate (their ratio is the lift) and recall."""
    lines = []
    for name, c in curves.items():
        j = int(np.argmin(np.abs(c["threshold"] - gamma)))
        lift = c["precision"][j] / c["base_rate"][j] if c["base_rate"][j] > 0 else float("nan")
        lines.append(f"{name:>22}: γ={c['threshold'][j]:.2f} prunes {c['pruned_fraction'][j]:5.1%} of samples, "
                     f"precision {c['precision'][j]:.3f} = {lift:.1f}× the base rate {c['base_rate'][j]:.3f}, "
                     f"recall {c['recall'][j]:.3f}")
    return lines


# -- figures ---------------------------------------------------------------------------------------------
def _similarity_panel(ax, feat: Tensor, groups: Sequence, title: str, max_items: int) -> None:
    order = np.argsort(group_codes(groups), kind="stable")
    if len(order) > max_items:
        order = order[np.linspace(0, len(order) - 1, max_items).round().astype(int)]
    sims = cosine_matrix(feat[torch.as_tensor(order)]).numpy()
    image = ax.imshow(sims, cmap="viridis", vmin=min(0.0, sims.min()), vmax=1)
    codes = group_codes([groups[i] for i in order])
    for edge in np.flatnonzero(np.diff(codes)) + 0.5:
        ax.axhline(edge, color="white", lw=0.4)
        ax.axvline(edge, color="white", lw=0.4)
    ax.set(title=title, xlabel="sample (sorted by group)", ylabel="sample (sorted by group)")
    ax.figure.colorbar(image, ax=ax, shrink=0.8, label="cosine similarity")


def plot_similarity_matrices(panels: dict[str, tuple[Tensor, Sequence]], max_items: int = 120,
                             panel_size: float = 6.0) -> Figure:
    """Cosine matrices side by side, ``panels = {title: (feat [N, D], groups [N])}``, rows sorted by group so
    same-group blocks sit on the diagonal; above ``max_items`` rows, an evenly spaced sample of the sorted rows
    (every group keeps its share)."""
    fig = Figure(figsize=(panel_size * len(panels), 0.8 * panel_size), layout="constrained")
    for ax, (title, (feat, groups)) in zip(fig.subplots(1, len(panels), squeeze=False)[0], panels.items()):
        _similarity_panel(ax, feat, groups, title, max_items)
    return fig


def plot_connectivity(conn: np.ndarray, gamma: float, title: str = "Connectivity in one batch") -> Figure:
    """Bar chart of a batch's connectivity ``[B]`` (scaled by its max) with the γ line: bars above are pruned."""
    conn = np.asarray(conn, dtype=float)
    scaled = conn / conn.max() if conn.max() > 0 else conn
    order = np.argsort(-scaled)
    fig = Figure(figsize=(8, 3.2), layout="constrained")
    ax = fig.add_subplot()
    ax.bar(np.arange(len(conn)), scaled[order], color=np.where(scaled[order] > gamma, "C3", "C0"))
    ax.axhline(gamma, color="black", ls="--", lw=1, label=f"γ = {gamma:g}")
    ax.set(title=title, xlabel="batch sample (sorted by connectivity)", ylabel="Ĉ = C / max C")
    ax.legend()
    return fig


def plot_pruning_curves(curves: dict[str, dict], title: str = "Does pruning find false negatives?") -> Figure:
    """Three panels over γ, one line per entry of ``curves`` (name → :func:`pruning_curve`): the share of
    samples pruned, the *lift* (precision ÷ base rate: 1 = no better than pruning at random) and the recall."""
    fig = Figure(figsize=(15, 4), layout="constrained")
    axes = fig.subplots(1, 3)
    for j, (name, c) in enumerate(curves.items()):
        style = {"color": f"C{j}", "marker": "o", "ms": 3, "label": name}
        axes[0].plot(c["threshold"], c["pruned_fraction"], **style)
        axes[1].plot(c["threshold"], c["precision"] / c["base_rate"], **style)
        axes[2].plot(c["threshold"], c["recall"], **style)
    axes[1].axhline(1.0, color="gray", ls=":", lw=1, label="random pruning")
    axes[0].set(title="Samples marked influential", ylabel="fraction of batch samples")
    axes[1].set(title="Lift = precision / base rate", ylabel="× better than random")
    axes[2].set(title="Recall: false negatives removed", ylabel="fraction of all false negatives", ylim=(0, 1.02))
    for ax in axes:
        ax.set_xlabel("pruning threshold γ")
    axes[1].legend(fontsize=8)
    fig.suptitle(title)
    return fig


def show_thumbnails(images: Sequence, titles: Sequence[str], ncols: int = 6, size: float = 1.9,
                    suptitle: str = "") -> Figure:
    """A grid of PIL images (``None``: no picture, the title alone) with short titles."""
    import textwrap

    n = len(images)
    nrows = max(1, -(-n // ncols))
    fig = Figure(figsize=(ncols * size, nrows * (size + 0.5)), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, title in zip(axes.flat, images, titles):
        if image is None:
            ax.text(0.5, 0.5, "(no licensed\npicture)", ha="center", va="center", fontsize=8, color="gray")
        else:
            ax.imshow(image)
        ax.set_title("\n".join(textwrap.wrap(title, 22)[:3]), fontsize=8)
    if suptitle:
        fig.suptitle(suptitle)
    return fig
