"""Matplotlib figures for runs and comparisons: loss curves, recall@K curves, metric bar charts.

Every function returns a :class:`matplotlib.figure.Figure` built without pyplot (no global state, no
display needed); in a notebook the figure displays as the cell's value, and :func:`save_figure` writes it
atomically. Curves of several seeds are drawn as their mean with a min–max band.

Example::

    results = run_comparison(...)
    save_figure(plot_recall_curves(results), "runs/demo/recall_curves.png")
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from crossclr_lab.utils import atomic_savefig


def _mean_band(ax, x, runs: np.ndarray, label: str, color) -> None:
    mean = runs.mean(0)
    ax.plot(x, mean, label=label, color=color, lw=1.8)
    if len(runs) > 1:
        ax.fill_between(x, runs.min(0), runs.max(0), color=color, alpha=0.2, lw=0)


def _smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average over the last axis (the first points average what exists so far)."""
    if window <= 1:
        return values
    csum = np.cumsum(values, axis=-1)
    out = csum.copy()
    out[..., window:] = csum[..., window:] - csum[..., :-window]
    counts = np.minimum(np.arange(1, values.shape[-1] + 1), window)
    return out / counts


def plot_loss_curves(step_losses: dict[str, list[list[float]]], smooth: int = 10, title: str = "Training loss",
                     figsize=(6.4, 4.0)) -> Figure:
    """Training loss per step: ``{name: [losses of seed 0, losses of seed 1, ...]}`` -> one line per name.

    Runs of one name are cut to the shortest (early stopping can end them at different steps).
    Losses of different objectives live on different scales; compare their shapes, not their heights.
    """
    if not step_losses:
        raise ValueError("step_losses is empty: pass {name: [per-step losses of each seed]}")
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.add_subplot()
    for i, (name, runs) in enumerate(step_losses.items()):
        length = min(len(r) for r in runs)
        if length == 0:
            raise ValueError(f"no steps recorded for {name!r}")
        arr = _smooth(np.asarray([r[:length] for r in runs], dtype=float), smooth)
        _mean_band(ax, np.arange(1, length + 1), arr, f"{name} ({len(runs)} seed{'s' * (len(runs) > 1)})", f"C{i}")
    ax.set_xlabel("optimiser step")
    ax.set_ylabel(f"loss (moving average of {smooth} steps)" if smooth > 1 else "loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def plot_recall_curves(results: dict, directions: tuple[str, ...] = ("t2v", "v2t"), figsize=(10, 4.0)) -> Figure:
    """R@K against K for every variant of a :func:`crossclr_lab.compare.run_comparison` result, with chance (K/N)."""
    names = {"t2v": "text → video", "v2t": "video → text"}
    fig = Figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(1, len(directions), squeeze=False)[0]
    n = results["n_test"]
    for ax, d in zip(axes, directions):
        for i, (name, variant) in enumerate(results["variants"].items()):
            runs = np.asarray([r["recall_curves"][d] for r in variant["runs"]], dtype=float)
            _mean_band(ax, np.arange(1, runs.shape[1] + 1), runs, name, f"C{i}")
        recall_axes(ax, n, runs.shape[1], f"{results['dataset']}: {names[d]}, {n} test pairs")
    return fig


def recall_axes(ax, n: int, max_k: int, title: str, fontsize: float | None = None,
                chance_label: str = "chance") -> None:
    """Finish an R@K plot: the chance line K/n for K = 1..max_k, log-scaled K, labels, grid and legend."""
    ks = np.arange(1, max_k + 1)
    ax.plot(ks, 100.0 * np.minimum(ks, n) / n, color="grey", ls=":", lw=1.2, label=f"{chance_label} (K/{n})")
    ax.set_xscale("log")
    ax.set_xlabel("K (log scale)")
    ax.set_ylabel("R@K (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="lower right", fontsize=fontsize)


def plot_metric_bars(results: dict, metrics: tuple[str, ...] = ("t2v_r1", "t2v_r5", "v2t_r1", "v2t_r5"),
                     figsize=(7.0, 4.0)) -> Figure:
    """Grouped bars: mean over seeds per variant and metric, error bars = std, seeds as dots, chance as a tick."""
    from crossclr_lab.compare import LABELS

    variants = list(results["variants"])
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.add_subplot()
    width = 0.8 / len(variants)
    x = np.arange(len(metrics))
    for i, name in enumerate(variants):
        runs = np.asarray([[r["test"][m] for m in metrics] for r in results["variants"][name]["runs"]], dtype=float)
        pos = x - 0.4 + width * (i + 0.5)
        ax.bar(pos, runs.mean(0), width, yerr=runs.std(0, ddof=1) if len(runs) > 1 else None, capsize=3,
               label=name, color=f"C{i}", alpha=0.8)
        for j in range(len(metrics)):
            ax.scatter(np.full(len(runs), pos[j]), runs[:, j], s=8, color="black", zorder=3)
    chance = [results["chance"][m] for m in metrics]
    ax.scatter(x, chance, marker="_", s=400, color="grey", zorder=4, label="chance")
    ax.set_xticks(x, [LABELS.get(m, m) for m in metrics])
    ax.set_xlabel("retrieval metric (evaluation split)")
    ax.set_ylabel("recall (%)")
    ax.set_title(f"{results['dataset']}: test metrics, {len(results['seeds'])} seeds (bars: mean ± std, dots: seeds)")
    ax.grid(alpha=0.3, axis="y")
    ax.legend()
    return fig


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = 120) -> Path:
    """Write ``fig`` to ``path`` (format from the suffix) atomically; returns the path."""
    return atomic_savefig(fig, path, dpi=dpi)
