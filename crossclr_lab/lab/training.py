"""Companion of notebook 03 (training): what a multi-seed comparison says, as tables and sentences computed from
its numbers, and the loss curves on one relative scale.

The comparisons themselves come from :func:`crossclr_lab.experiments.comparison.run_comparison` and their tables from
:func:`crossclr_lab.experiments.report.format_table`; the verdicts here carry :class:`~crossclr_lab.lab.findings.Claim`
objects that point into that table (rows ``"Δ <variant> − <baseline>"``), so a test can hold every sentence to
the table the learner sees.

Example::

    results = run_comparison(...)
    show(format_table(results), name="comparison"); show(comparison_verdict(results, "comparison"))
    table = curve_table(results); show(table); show(curve_verdict(table))
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from crossclr_lab.experiments.comparison import Variant, ablation_variants, as_variants
from crossclr_lab.experiments.report import mean_band, moving_average, variant_color
from crossclr_lab.experiments.stats import MIN_SEEDS
from crossclr_lab.lab.findings import Claim, Table, Verdict, signed
from crossclr_lab.metrics import lower_is_better, metric_label

NOTEBOOK_LOSSES = ("crossclr", "infonce", "nt_xent", "max_margin")   # notebook 03's defaults (its shipped runs)
NOTEBOOK_SEEDS = (0, 1, 2)
NOTEBOOK_KAPPAS = (0.05,)
STILL_FALLING = 10.0     # % of a curve's total drop that happens in its last quarter: above this, not flattened
SMOOTH = 10              # steps in the moving average of the loss curves
ABLATION_METRICS = ("t2v_r1", "v2t_r1", "t2v_medr", "t2v_sem_r1")
COMPONENTS = {"no intra": "the intra-modality negatives (λ)", "no pruning": "pruning (γ)",
              "no weighting": "the connectivity weights (κ)"}


def delta_row(results: dict, name: str) -> str:
    """The row label :func:`crossclr_lab.experiments.report.format_table` gives variant ``name``'s paired
    differences."""
    return f"Δ {name} − {results['baseline']}"


def _n_seeds(results: dict) -> int:
    return len(results["seeds"])


def _effect(results: dict, name: str, metric: str, table: str) -> tuple[str, list[Claim], bool, bool]:
    """``(phrase, claims, beyond_noise, better)`` for variant ``name``'s paired difference on ``metric``."""
    d = results["summary"][name]["diff"][metric]
    value = round(d["mean"], 1) + 0.0
    row, column = delta_row(results, name), metric_label(metric)
    better = (value < 0) if lower_is_better(metric) else (value > 0)
    claims = [Claim(table, row, column, value)]
    if value != 0:
        claims.append(Claim(table, row, column, value, relation="positive" if value > 0 else "negative"))
    enough = _n_seeds(results) >= MIN_SEEDS
    if enough:
        noise_relation = "beyond_noise" if d["beyond_noise"] else "within_noise"
        claims.append(Claim(table, row, column, value, relation=noise_relation))
    noise = ("" if not enough else " (beyond seed noise)" if d["beyond_noise"] else " (within seed noise)")
    word = "no change" if value == 0 else ("better" if better else "worse")
    return f"{column} {signed(value)}: {word}{noise}", claims, enough and d["beyond_noise"], better and value != 0


def comparison_verdict(results: dict, table: str = "comparison",
                       metrics: tuple[str, ...] = ("t2v_r1", "v2t_r1")) -> Verdict:
    """One bullet per variant against the baseline, computed from the paired differences on ``metrics`` (the
    ``Δ`` rows of ``format_table(results)``, displayed as table ``table``)."""
    lines, claims = [], []
    n = _n_seeds(results)
    for name, entry in results["summary"].items():
        if not entry["diff"]:
            continue
        phrases, beyond, better = [], [], []
        for metric in metrics:
            phrase, cl, is_beyond, is_better = _effect(results, name, metric, table)
            phrases.append(phrase)
            claims += cl
            beyond.append(is_beyond)
            better.append(is_better)
        if n < MIN_SEEDS:
            judgement = f"with {n} seed(s) no difference can be told from seed noise (that needs {MIN_SEEDS})"
        elif all(beyond) and len(set(better)) == 1:
            judgement = f"**{'better' if better[0] else 'worse'}** than {results['baseline']} beyond seed noise"
        elif any(beyond):
            judgement = "a mixed result: " + ", ".join(
                f"{'better' if b else 'worse'} on {metric_label(m)}" for m, b, x in zip(metrics, better, beyond) if x
            ) + " beyond seed noise, the rest within it"
        else:
            judgement = f"no difference from {results['baseline']} beyond seed noise"
        lines.append(f"- **{name}** vs {results['baseline']}: " + "; ".join(phrases) + f" → {judgement}.")
    text = (f"Paired differences over {n} seed(s), read from the Δ rows of the table "
            "(higher R@K is better, lower MedR is better):\n\n" + "\n".join(lines))
    return Verdict(f"{table}_verdict", text, claims)


def ablation_verdict(results: dict, table: str = "ablation", metrics: tuple[str, ...] = ABLATION_METRICS) -> Verdict:
    """What switching each CrossCLR component off did, against full CrossCLR (the baseline of ``results``), and
    which component's removal moved T→V R@1 the most: the computed reading of the ablation."""
    n = _n_seeds(results)
    lines, claims, moves = [], [], {}
    for name, component in COMPONENTS.items():
        if name not in results["summary"]:
            continue
        phrases = []
        for metric in metrics:
            if metric not in results["summary"][name]["diff"]:
                continue
            phrase, cl, beyond, better = _effect(results, name, metric, table)
            phrases.append(phrase)
            claims += cl
        d = results["summary"][name]["diff"]["t2v_r1"]
        moves[name] = (round(d["mean"], 1) + 0.0, d["beyond_noise"] and n >= MIN_SEEDS)
        lines.append(f"- without **{component}** (row *{name}*): " + "; ".join(phrases) + ".")
    text = (f"Each row switches one component off and is compared with full CrossCLR over {n} paired seed(s); "
            "\"better\" means the model is better *without* the component, so that component cost accuracy:\n\n"
            + "\n".join(lines))
    if moves:
        largest = max(moves, key=lambda k: abs(moves[k][0]))
        value, beyond = moves[largest]
        text += (f"\n\n**Reading.** Removing {COMPONENTS[largest]} moves T→V R@1 the most ({signed(value)}"
                 + (", beyond seed noise" if beyond else ", but within seed noise" if n >= MIN_SEEDS else "")
                 + ").")
        quiet = [k for k, (v, b) in moves.items() if not b]
        if n >= MIN_SEEDS and quiet:
            text += (" Within seed noise on T→V R@1: " + ", ".join(COMPONENTS[k] for k in quiet)
                     + " — on this data a hypothesis that blames " + ("it" if len(quiet) == 1 else "them")
                     + " for CrossCLR's result is not supported.")
        harmful = [k for k, (v, b) in moves.items() if b and v > 0]
        if harmful:
            text += (" Beyond seed noise, CrossCLR is *better without* " + ", ".join(COMPONENTS[k] for k in harmful)
                     + ": " + ("that component is" if len(harmful) == 1 else "those components are")
                     + " what costs accuracy here.")
        if n < MIN_SEEDS:
            text += f" With {n} seed(s) none of this can be told from seed noise (that needs {MIN_SEEDS})."
    return Verdict(f"{table}_verdict", text, claims)


def ablation_sharing_infonce(crossclr_kwargs: dict | None = None) -> list[Variant]:
    """:func:`~crossclr_lab.experiments.comparison.ablation_variants` with its last row, CrossCLR with every component
    off,
    trained as ``infonce``: the two losses are equal (``tests/losses``: ``test_crossclr_all_off_equals_infonce``),
    so with the model cache the comparison's InfoNCE runs stand for that row instead of being trained again."""
    variants = ablation_variants(crossclr_kwargs)
    return variants[:-1] + [Variant(variants[-1].name, "infonce")]


def kappa_variants(kappas: list[float], crossclr_kwargs: dict | None = None) -> list[Variant]:
    """Full CrossCLR (the paper's κ, the baseline) and CrossCLR with each other κ in ``kappas``."""
    full = ablation_variants(crossclr_kwargs)[0]
    return [full] + [Variant(f"κ = {k:g}", "crossclr", {**full.loss_kwargs, "weight_temperature": float(k)})
                     for k in kappas if k != full.loss_kwargs["weight_temperature"]]


def notebook_comparisons(losses=NOTEBOOK_LOSSES, ablation: bool = True,
                         kappas=NOTEBOOK_KAPPAS) -> dict[str, tuple[list[Variant], str]]:
    """Notebook 03's comparisons, ``{name: (variants, baseline)}``: the losses against InfoNCE (or the first
    loss), the ablation against full CrossCLR (:func:`ablation_sharing_infonce`) and the κ values against it
    (:func:`kappa_variants`). Its defaults are the notebook's, whose runs the kit ships as results
    (:mod:`crossclr_lab.experiments.shipped_runs`)."""
    losses = list(losses)
    comparisons = {"comparison": (as_variants(losses), "infonce" if "infonce" in losses else losses[0])}
    if ablation:
        comparisons["ablation"] = (ablation_sharing_infonce(), "crossclr (full)")
    if kappas:
        comparisons["kappa"] = (kappa_variants(list(kappas)), "crossclr (full)")
    return comparisons


# -- loss curves ---------------------------------------------------------------------------------------------------
def relative_curves(results: dict, smooth: int = SMOOTH) -> dict[str, np.ndarray]:
    """Per variant, the smoothed training loss of each seed divided by its own first smoothed value ``[seeds, T]``
    (runs cut to the shortest), so losses of different scales share one axis: 1 at the start."""
    curves = {}
    for name, variant in results["variants"].items():
        runs = [r["step_losses"] for r in variant["runs"]]
        length = min(len(r) for r in runs)
        arr = moving_average(np.asarray([r[:length] for r in runs], dtype=float), smooth)
        curves[name] = arr / arr[:, :1]
    return curves


def curve_table(results: dict, tail: float = 0.25, name: str = "loss_curves") -> Table:
    """Per variant: the share of its (mean, smoothed) loss drop that happens in the last ``tail`` of the steps —
    near 0 for a curve that has flattened — and how many seeds selected their last epoch on val."""
    rows = []
    for label, curves in relative_curves(results).items():
        mean = curves.mean(0)
        start = int(round((1 - tail) * (len(mean) - 1)))
        total = mean[0] - mean.min()
        late = mean[start] - mean[-1]
        share = 100 * late / total if total > 0 else float("nan")
        runs = results["variants"][label]["runs"]
        last = sum(r["best_epoch"] == r["epochs_run"] for r in runs)
        rows.append([label, f"{mean[-1]:.2f}", "–" if not np.isfinite(share) else f"{share:.1f}",
                     f"{last} of {len(runs)}"])
    return Table(name, ["variant", "final loss / initial loss", f"drop in the last {int(100 * tail)} % of steps "
                        "(% of total drop)", "seeds whose best val epoch is the last"], rows,
                 note=f"Loss curves smoothed over {SMOOTH} steps, mean over seeds; a curve counts as still falling "
                      f"when more than {STILL_FALLING:g} % of its drop comes in the last quarter.")


def curve_verdict(table: Table) -> Verdict:
    """Which curves have flattened and which still fall, and whether model selection picked the last epoch
    (both say: more epochs might still help that loss)."""
    late_col, last_col = table.columns[2], table.columns[3]
    falling, flat, claims = [], [], []
    for row in table.rows:
        if row[2] == "–":
            continue
        late = float(row[2])
        claims.append(Claim(table.name, row[0], late_col, late))
        (falling if late > STILL_FALLING else flat).append(f"{row[0]} ({row[2]} %)")
    text = ""
    if falling:
        text += ("**Still falling** at the end of training: " + ", ".join(falling)
                 + " of their loss drop came in the last quarter of the steps. ")
    if flat:
        text += "**Flattened**: " + ", ".join(flat) + ". "
    all_last = [r[0] for r in table.rows if r[3].split(" of ")[0] == r[3].split(" of ")[1]]
    for row in table.rows:
        if row[0] in all_last:
            claims.append(Claim(table.name, row[0], last_col, float(row[3].split(" of ")[0])))
    if all_last:
        by_name = {r[0]: r[3] for r in table.rows}
        text += ("Every seed picked its **last** epoch for " + ", ".join(f"{n} ({by_name[n]} seeds)" for n in all_last)
                 + ": their validation score was best at the last epoch, so it may still be rising and those "
                 "comparisons may be made before they converged; more epochs could change them.")
    return Verdict(f"{table.name}_verdict", text.strip(), claims)


def plot_relative_loss_curves(results: dict, tail: float = 0.25, figsize=(7.0, 4.0)) -> Figure:
    """The training loss of every variant divided by its starting value (mean and min–max band over seeds), on one
    axis; the shaded region is the last ``tail`` of the steps that :func:`curve_table` reads."""
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.add_subplot()
    length = 1
    for i, (name, curves) in enumerate(relative_curves(results).items()):
        steps = np.arange(1, curves.shape[1] + 1)
        length = max(length, len(steps))
        mean_band(ax, steps, curves, f"{name} ({len(curves)} seed{'s' * (len(curves) > 1)})", variant_color(name, i))
    ax.axvspan((1 - tail) * length, length, color="grey", alpha=0.12, lw=0, label=f"last {int(100 * tail)} % of steps")
    ax.set(xlabel="optimiser step", ylabel=f"loss / its starting value (moving average of {SMOOTH} steps)",
           title=f"{results['dataset']}: training loss relative to its start", ylim=(0, None))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig
