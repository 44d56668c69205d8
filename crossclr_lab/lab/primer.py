"""Notebook 00, the contrastive primer: InfoNCE on a handful of 2-D points and what the temperature τ does.

A few "videos" sit on the unit circle, each "caption" near its video (with other norms, so the loss must
normalise). The notebook writes InfoNCE itself in a few lines and checks it against
:class:`crossclr_lab.losses.InfoNCELoss`; this module draws the points, the soft-max of one anchor at several
τ, and computes the table and verdict about τ::

    v, t = toy_pairs(6)
    plot_points(v, t)
    plot_softmax(v, t, [1.0, 0.1, 0.03], anchor=0)
    show(temperature_table(v, t, [1.0, 0.1, 0.03])); show(temperature_verdict(v, t, [1.0, 0.1, 0.03]))
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from matplotlib.figure import Figure

from crossclr_lab.lab.findings import Claim, Table, Verdict
from crossclr_lab.losses import InfoNCELoss


def toy_pairs(n: int = 6, noise: float = 0.35, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``(video [n, 2], text [n, 2])``: videos evenly spaced on the unit circle, caption i = video i plus Gaussian
    noise of std ``noise``, each caption scaled by a random norm in [0.5, 2) (so only directions matter)."""
    if n < 2:
        raise ValueError(f"a contrastive batch needs at least 2 pairs, got n={n}")
    g = torch.Generator().manual_seed(seed)
    angle = torch.arange(n, dtype=torch.float64) * 2 * math.pi / n
    video = torch.stack([angle.cos(), angle.sin()], 1)
    text = video + noise * torch.randn(n, 2, generator=g, dtype=torch.float64)
    return video, text * (0.5 + 1.5 * torch.rand(n, 1, generator=g, dtype=torch.float64))


def softmax_rows(v: torch.Tensor, t: torch.Tensor, tau: float) -> torch.Tensor:
    """``[n, n]``: row i is video anchor i's soft-max over the captions at temperature ``tau`` (cosine / τ)."""
    return torch.softmax(F.normalize(v, dim=1) @ F.normalize(t, dim=1).T / tau, dim=1)


def plot_points(v: torch.Tensor, t: torch.Tensor) -> Figure:
    """The pairs as directions: videos (circles) and captions (crosses) normalised onto the unit circle, each
    pair joined by a line and numbered."""
    vn, tn = F.normalize(v, dim=1), F.normalize(t, dim=1)
    fig = Figure(figsize=(5.2, 5.2), layout="constrained")
    ax = fig.subplots()
    circle = torch.linspace(0, 2 * math.pi, 200)
    ax.plot(circle.cos(), circle.sin(), color="0.85", lw=1, zorder=0)
    for i in range(len(v)):
        color = f"C{i % 10}"
        ax.plot([vn[i, 0], tn[i, 0]], [vn[i, 1], tn[i, 1]], color=color, lw=1.2, alpha=0.6)
        ax.scatter(*vn[i], s=90, color=color, marker="o", edgecolor="k", zorder=3,
                   label="video (circle)" if i == 0 else None)
        ax.scatter(*tn[i], s=90, color=color, marker="X", edgecolor="k", zorder=3,
                   label="caption (cross)" if i == 0 else None)
        ax.annotate(str(i), 1.14 * vn[i], ha="center", va="center", fontsize=11)
    ax.set(xlim=(-1.35, 1.35), ylim=(-1.35, 1.35), aspect="equal", xlabel="dimension 1 (after L2 normalisation)",
           ylabel="dimension 2")
    ax.set_title("pairs i = (video i, caption i); colour = pair", fontsize=11)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=9, frameon=False)
    return fig


def plot_softmax(v: torch.Tensor, t: torch.Tensor, taus: list[float], anchor: int = 0) -> Figure:
    """One panel per τ: video ``anchor``'s soft-max over the captions; its own caption (the positive) hatched."""
    fig = Figure(figsize=(3.0 * len(taus) + 0.5, 3.2), layout="constrained")
    axes = fig.subplots(1, len(taus), sharey=True, squeeze=False)[0]
    for ax, tau in zip(axes, taus):
        p = softmax_rows(v, t, tau)[anchor]
        bars = ax.bar(range(len(p)), p, color=[f"C{k % 10}" for k in range(len(p))], edgecolor="k")
        bars[anchor].set_hatch("//")
        ax.set_title(f"τ = {tau:g}: positive {100 * p[anchor]:.0f} %", fontsize=11)
        ax.set_xticks(range(len(p)))
        ax.set_xlabel("caption k")
    axes[0].set_ylabel(f"soft-max share, video {anchor}")
    axes[0].set_ylim(0, 1.05)
    return fig


def temperature_table(v: torch.Tensor, t: torch.Tensor, taus: list[float]) -> Table:
    """Per τ: the positive's mean soft-max share over the video anchors, the largest share any negative takes, and
    the library's InfoNCE loss."""
    rows = []
    for tau in taus:
        p = softmax_rows(v, t, tau)
        negatives = p.masked_fill(torch.eye(len(p), dtype=torch.bool), 0)
        loss = float(InfoNCELoss(temperature=tau)(v, t))
        rows.append([f"{tau:g}", f"{p.diagonal().mean():.3f}", f"{negatives.max():.3f}", f"{loss:.3f}"])
    return Table("temperature", ["τ", "mean p(positive)", "largest p(negative)", "InfoNCE loss"], rows,
                 note=f"{len(v)} pairs; log {len(v)} = {math.log(len(v)):.3f} is the loss when every caption scores "
                      "the same (τ → ∞).")


def temperature_verdict(v: torch.Tensor, t: torch.Tensor, taus: list[float]) -> Verdict:
    """What lowering τ did here, computed: the positive's mean share and the loss at the largest and smallest τ,
    and whether some negative outscores its anchor's positive (then a small τ punishes that anchor hard)."""
    table = temperature_table(v, t, taus)
    rows = {r[0]: r for r in table.rows}
    hi, lo = f"{max(taus):g}", f"{min(taus):g}"
    p_hi, p_lo, l_hi, l_lo = (float(rows[hi][1]), float(rows[lo][1]), float(rows[hi][3]), float(rows[lo][3]))
    sims = F.normalize(v, dim=1) @ F.normalize(t, dim=1).T
    wrong = [i for i in range(len(v)) if int(sims[i].argmax()) != i]
    text = (f"Lowering τ from {hi} to {lo} moves the positive's mean soft-max share from {p_hi:.3f} to {p_lo:.3f} "
            f"and the loss from {l_hi:.3f} to {l_lo:.3f}: a smaller τ magnifies every difference in similarity. ")
    if wrong:
        who = f"Video {wrong[0]} sits" if len(wrong) == 1 else f"Videos {', '.join(map(str, wrong))} sit"
        text += (f"{who} closer to another caption than to its own: as τ falls, "
                 "such an anchor's soft-max shifts to that caption and its loss grows without bound (τ → 0) — the "
                 "sharpening rewards a right ranking and punishes a wrong one.")
    else:
        text += ("Every video is closest to its own caption, so the sharpening only helps: as τ → 0 the "
                 "positive takes all of each soft-max and the loss falls toward 0.")
    claims = [Claim("temperature", hi, "mean p(positive)", p_hi), Claim("temperature", lo, "mean p(positive)", p_lo),
              Claim("temperature", hi, "InfoNCE loss", l_hi), Claim("temperature", lo, "InfoNCE loss", l_lo)]
    return Verdict("temperature_verdict", text, claims)
