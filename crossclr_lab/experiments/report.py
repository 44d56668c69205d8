"""Reports of runs and comparisons: Markdown tables, verdicts computed from the numbers, and figures (loss
curves, R@K curves, metric bars).

Every figure function returns a :class:`matplotlib.figure.Figure` built without pyplot (no global state, no
display needed); in a notebook the figure displays as the cell's value, and :func:`save_figure` writes it
atomically. Curves of several seeds are drawn as their mean with a min–max band.

Example::

    results = run_comparison(...)
    print(format_table(results)); print("\\n".join(verdict_lines(results)))
    save_figure(plot_recall_curves(comparison_curves(results), results["n_test"]), "runs/demo/recall_curves.png")
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from crossclr_lab.checks import check_int
from crossclr_lab.experiments.comparison import TABLE_METRICS, VERDICT_METRICS
from crossclr_lab.experiments.stats import format_difference, format_p, judgement, significance_note
from crossclr_lab.files import atomic_savefig, atomic_write_text
from crossclr_lab.metrics import DIRECTION_NAMES, lower_is_better, metric_label


# -- tables and verdicts --------------------------------------------------------------------------------------
def format_table(results: dict) -> str:
    """A Markdown table: mean ± std per variant, the chance level, and paired differences to the baseline
    (mean (sem), p-value of the paired t-test, ``*`` beyond seed noise)."""
    summary = results["summary"]
    metrics = [m for m in TABLE_METRICS if m in next(iter(summary.values()))["mean"]]
    lines = [f"| {'variant':<20} | " + " | ".join(metric_label(m) for m in metrics) + " |",
             "|" + "---|" * (len(metrics) + 1)]
    for name, entry in summary.items():
        cells = [f"{entry['mean'][m]:.1f} ± {entry['std'][m]:.1f}" for m in metrics]
        lines.append(f"| {name:<20} | " + " | ".join(cells) + " |")
    lines.append(f"| {'chance':<20} | " + " | ".join(f"{results['chance'][m]:.1f}" for m in metrics) + " |")
    n_tests = 0
    for name, entry in summary.items():
        if entry["diff"]:
            cells = [format_difference(entry["diff"][m]) for m in metrics]
            n_tests += len(cells)
            lines.append(f"| {'Δ ' + name + ' − ' + results['baseline']:<20} | " + " | ".join(cells) + " |")
    n = len(results["seeds"])
    lines.append("")
    lines.append(f"{results['dataset']}: {results['n_test']} test pairs, {n} seed(s) {results['seeds']}; "
                 f"mean ± std over seeds; Δ rows: paired per-seed differences, mean (sem) and p-value; "
                 f"{significance_note(n, n_tests)}; recalls in %, MedR in ranks (lower is better)"
                 + (f"; semantic R@1 counts a hit when the top item shares the query's {results['group']!r}"
                    if results["group"] else "") + ".")
    return "\n".join(lines)


def verdict_lines(results: dict, metrics: tuple[str, ...] = VERDICT_METRICS) -> list[str]:
    """One line per non-baseline variant, computed from the paired differences on ``metrics``."""
    lines = []
    for name, entry in results["summary"].items():
        if not entry["diff"]:
            continue
        diffs = {metric_label(m): entry["diff"][m] for m in metrics}
        parts = [f"{label} {d['mean']:+.1f} (sem {d['sem']:.1f}, {format_p(d['p'])})" for label, d in diffs.items()]
        # "better" in the metric's own sense: higher recall, lower rank
        better = {metric_label(m): entry["diff"][m]["mean"] < 0 if lower_is_better(m) else
                  entry["diff"][m]["mean"] > 0 for m in metrics}
        n = entry["diff"][metrics[0]]["n"]
        lines.append(f"Verdict {name} vs {results['baseline']} over {n} paired seeds: "
                     f"{'; '.join(parts)} → {judgement(diffs, better, n)}.")
    return lines


def write_report(results: dict, out_dir: str | os.PathLike) -> Path:
    """Write ``results.md`` (table + verdict) into ``out_dir``, beside the ``results.json`` that
    :func:`~crossclr_lab.experiments.comparison.run_comparison` wrote there (the one writer of that file)."""
    md = f"# {results['dataset']}: comparison\n\n{format_table(results)}\n\n" + "\n".join(verdict_lines(results)) + "\n"
    return atomic_write_text(Path(out_dir) / "results.md", md)

# -- figures --------------------------------------------------------------------------------------------------
# One colour per loss in every figure of the kit, whatever the order of the variants (keys: lower-case names with
# "-", " " and "_" removed); other variants take the remaining colours in order.
LOSS_COLORS = {"crossclr": "tab:red", "infonce": "tab:blue", "none(=infonce)": "tab:blue", "rawfeatures": "tab:gray",
               "ntxent": "tab:green", "maxmargin": "tab:purple", "milnce": "tab:brown", "dcl": "tab:olive"}
OTHER_COLORS = ("tab:orange", "tab:cyan", "tab:pink", "black", "gold", "tab:olive", "tab:green", "tab:purple")


def variant_color(name: str, index: int) -> str:
    """The colour of variant ``name`` (the ``index``-th drawn): its loss's colour, else the ``index``-th other one."""
    key = re.sub(r"[-_ ]", "", name.lower())
    return LOSS_COLORS.get(key, OTHER_COLORS[index % len(OTHER_COLORS)])


def mean_band(ax, x, runs: np.ndarray, label: str, color, ls: str = "-") -> None:
    mean = runs.mean(0)
    ax.plot(x, mean, label=label, color=color, lw=1.8 if ls == "-" else 1.4, ls=ls)
    if len(runs) > 1:
        ax.fill_between(x, runs.min(0), runs.max(0), color=color, alpha=0.2, lw=0)


def moving_average(values: np.ndarray, window: int) -> np.ndarray:
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
        arr = moving_average(np.asarray([r[:length] for r in runs], dtype=float), smooth)
        label = f"{name} ({len(runs)} seed{'s' * (len(runs) > 1)})"
        mean_band(ax, np.arange(1, length + 1), arr, label, variant_color(name, i))
    ax.set_xlabel("optimiser step")
    ax.set_ylabel(f"loss (moving average of {smooth} steps)" if smooth > 1 else "loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def comparison_curves(results: dict) -> dict[str, dict[str, np.ndarray]]:
    """The R@K curves of a :func:`~crossclr_lab.experiments.comparison.run_comparison` result, for
    :func:`plot_recall_curves`: ``{variant: {"t2v": [seeds, K], "v2t": [seeds, K]}}``."""
    return {name: {d: np.asarray([r["recall_curves"][d] for r in variant["runs"]], dtype=float)
                   for d in variant["runs"][0]["recall_curves"]}
            for name, variant in results["variants"].items()}


def plot_recall_curves(curves: dict[str, dict[str, np.ndarray]], n: int, title: str = "",
                       directions: tuple[str, ...] = ("t2v", "v2t"), figsize=(10, 4.0)) -> Figure:
    """R@K against K, one panel per direction, with chance (K/n).

    ``curves = {name: {"t2v": R@K [K] or [seeds, K], "v2t": ..., optional "t2v_sem"/"v2t_sem"}}``, e.g. from
    :func:`crossclr_lab.metrics.recall_curves` (one model each) or :func:`comparison_curves` (several seeds,
    drawn as the mean with a min–max band). Semantic curves are dashed.
    """
    if not curves:
        raise ValueError("curves is empty: pass {name: {direction: R@K}}")
    check_int("n (the number of gallery items)", n, 1)
    fig = Figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(1, len(directions), squeeze=False)[0]
    for ax, d in zip(axes, directions):
        length = 1
        semantic = any(f"{d}_sem" in c for c in curves.values())
        for i, (name, c) in enumerate(curves.items()):
            runs = np.atleast_2d(np.asarray(c[d], dtype=float))
            length = max(length, runs.shape[1])
            label = f"{name}: exact" if semantic else name
            mean_band(ax, np.arange(1, runs.shape[1] + 1), runs, label, variant_color(name, i))
            if f"{d}_sem" in c:
                sem = np.atleast_2d(np.asarray(c[f"{d}_sem"], dtype=float))
                mean_band(ax, np.arange(1, sem.shape[1] + 1), sem, f"{name}: semantic", variant_color(name, i), ls="--")
        recall_axes(ax, n, length, f"{title + ': ' if title else ''}{DIRECTION_NAMES[d]}, {n} pairs",
                    chance_label="chance, exact" if semantic else "chance")
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
    variants = list(results["variants"])
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.add_subplot()
    width = 0.8 / len(variants)
    x = np.arange(len(metrics))
    for i, name in enumerate(variants):
        runs = np.asarray([[r["test"][m] for m in metrics] for r in results["variants"][name]["runs"]], dtype=float)
        pos = x - 0.4 + width * (i + 0.5)
        ax.bar(pos, runs.mean(0), width, yerr=runs.std(0, ddof=1) if len(runs) > 1 else None, capsize=3,
               label=name, color=variant_color(name, i), alpha=0.8)
        for j in range(len(metrics)):
            ax.scatter(np.full(len(runs), pos[j]), runs[:, j], s=8, color="black", zorder=3)
    chance = [results["chance"][m] for m in metrics]
    ax.scatter(x, chance, marker="_", s=400, color="grey", zorder=4, label="chance")
    ax.set_xticks(x, [metric_label(m) for m in metrics])
    ax.set_xlabel("retrieval metric (evaluation split)")
    ax.set_ylabel("recall (%)")
    ax.set_title(f"{results['dataset']}: test metrics, {len(results['seeds'])} seeds (bars: mean ± std, dots: seeds)")
    ax.grid(alpha=0.3, axis="y")
    ax.legend()
    return fig


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = 120) -> Path:
    """Write ``fig`` to ``path`` (format from the suffix) atomically; returns the path."""
    return atomic_savefig(fig, path, dpi=dpi)


def comparison_figures(results: dict) -> dict[str, Figure]:
    """The figures of a comparison by file stem: ``recall_curves`` (R@K, mean and min–max band over seeds),
    ``loss_curves`` (training loss per step) and ``metrics`` (bars of test metrics, seeds as dots)."""
    step_losses = {name: [r["step_losses"] for r in v["runs"]] for name, v in results["variants"].items()}
    return {"recall_curves": plot_recall_curves(comparison_curves(results), results["n_test"],
                                                title=results["dataset"]),
            "loss_curves": plot_loss_curves(step_losses, title=f"{results['dataset']}: training loss "
                                                                "(each loss on its own scale)"),
            "metrics": plot_metric_bars(results)}


def write_figures(results: dict, out: str | os.PathLike) -> list[Path]:
    """:func:`comparison_figures` as PNGs in ``out``; returns their paths."""
    return [save_figure(fig, Path(out) / f"{stem}.png") for stem, fig in comparison_figures(results).items()]
