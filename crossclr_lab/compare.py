"""Multi-seed comparisons of losses (or of CrossCLR's components) on fixed splits, with honest summaries.

Every variant is trained once per seed on the same train split, selected on val, and evaluated on the
evaluation split. The summary gives mean ± std over seeds, the chance level, and the *paired* difference
to a baseline variant (per-seed differences, so the seed's shared luck cancels), with a verdict computed
from the numbers: a difference counts as beyond seed noise only when ``|mean| > 2 · sem`` over at least 3 seeds.

Example::

    variants = [Variant("crossclr", "crossclr"), Variant("infonce", "infonce")]
    results = run_comparison(variants, seeds=[0, 1, 2], splits=(train, val, test), config=TrainConfig(epochs=5))
    print(format_table(results)); print("\\n".join(verdict_lines(results)))
"""

from __future__ import annotations

import math
import os
import re
import statistics
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from crossclr_lab.data.paired import PairedFeatures
from crossclr_lab.losses import build_loss
from crossclr_lab.metrics import chance_metrics, recall_curve, retrieval_metrics
from crossclr_lab.train import TrainConfig, Trainer, embed
from crossclr_lab.utils import atomic_write_json, atomic_write_text

TABLE_METRICS = ("t2v_r1", "t2v_r5", "t2v_r10", "t2v_medr", "v2t_r1", "v2t_r5", "v2t_r10", "v2t_medr",
                 "t2v_sem_r1", "v2t_sem_r1")
VERDICT_METRICS = ("t2v_r1", "v2t_r1")
MIN_SEEDS = 3  # below this, a paired sem is itself too noisy to call anything "beyond seed noise"
LABELS = {"t2v_r1": "T→V R@1", "t2v_r5": "T→V R@5", "t2v_r10": "T→V R@10", "t2v_medr": "T→V MedR",
          "v2t_r1": "V→T R@1", "v2t_r5": "V→T R@5", "v2t_r10": "V→T R@10", "v2t_medr": "V→T MedR",
          "t2v_sem_r1": "T→V sem R@1", "v2t_sem_r1": "V→T sem R@1"}


@dataclass
class Variant:
    """One row of a comparison: a display name, a loss name and its keyword arguments."""

    name: str
    loss: str
    loss_kwargs: dict = field(default_factory=dict)


def ablation_variants(crossclr_kwargs: dict | None = None, queue_sizes: tuple[int, ...] = ()) -> list[Variant]:
    """CrossCLR with each component switched off in turn (and optional queue sizes), plus all off (= InfoNCE).

    The first variant, ``crossclr (full)``, is the baseline the others are compared to.
    """
    full = {"intra_weight": 0.8, "prune_threshold": 0.9, "weight_temperature": 3.5e-3, "queue_size": 0,
            **(crossclr_kwargs or {})}
    off = {"intra_weight": 0.0, "prune_threshold": None, "weight_temperature": None, "queue_size": 0}
    variants = [Variant("crossclr (full)", "crossclr", full)]
    for key, label in (("intra_weight", "no intra"), ("prune_threshold", "no pruning"),
                       ("weight_temperature", "no weighting")):
        variants.append(Variant(label, "crossclr", {**full, key: off[key]}))
    variants.append(Variant("none (= InfoNCE)", "crossclr", {**full, **off}))
    variants += [Variant(f"queue {q}", "crossclr", {**full, "queue_size": q}) for q in queue_sizes
                 if q != full["queue_size"]]
    return variants


def chance_levels(features: PairedFeatures, group: str | None = None) -> dict[str, float]:
    """Expected metrics of a random ranking of ``N`` items (recalls in %, like the metrics)."""
    n = len(features)
    chance = {}
    for d in ("t2v", "v2t"):
        chance.update({f"{d}_{k}": v for k, v in chance_metrics(n).items()})
        if group is not None:
            # the top-1 item is uniform over N; it shares the query's group with probability n_g / N
            chance[f"{d}_sem_r1"] = 100.0 * sum((c / n) ** 2 for c in Counter(features.groups[group]).values())
    return chance


def default_group(features: PairedFeatures) -> str | None:
    """The groups key used for semantic metrics by default: ``"concept"`` when present, else the first key."""
    if "concept" in features.groups:
        return "concept"
    return next(iter(sorted(features.groups)), None)


def run_comparison(variants: list[Variant], seeds: list[int], splits: tuple, config: TrainConfig,
                   group: str | None = None, out_dir: str | os.PathLike | None = None, baseline: str | None = None,
                   log: Callable[[str], None] = print, curve_k: int = 50,
                   on_model: Callable[[str, int, object], None] | None = None) -> dict:
    """Train every variant with every seed; return JSON-able results (also ``out_dir/results.json``).

    ``splits = (train, val, test)``; ``val`` may be ``None`` (no model selection: the last epoch is used).
    ``baseline`` names the variant the paired differences are taken against (default: the first).
    ``on_model(variant_name, seed, model)`` is called with each selected model (e.g. to keep embeddings).
    """
    train_data, val_data, test_data = splits
    names = [v.name for v in variants]
    if len(set(names)) != len(names):
        raise ValueError(f"variant names must be unique, got {names}")
    baseline = baseline or names[0]
    if baseline not in names:
        raise ValueError(f"baseline {baseline!r} is not one of the variants {names}")
    if not seeds:
        raise ValueError("need at least one seed")
    if group is not None and group not in test_data.groups:
        raise ValueError(f"group {group!r} not in {test_data.name!r}; available: {sorted(test_data.groups)}")
    for v in variants:  # fail before hours of training, not in the middle
        build_loss(v.loss, **v.loss_kwargs)
    max_k = min(curve_k, len(test_data))
    results = {"dataset": test_data.name, "n_train": len(train_data), "n_val": val_data and len(val_data),
               "n_test": len(test_data), "group": group, "seeds": list(seeds), "baseline": baseline,
               "config": {k: v for k, v in vars(config).items() if k not in ("loss", "loss_kwargs", "seed")},
               "chance": chance_levels(test_data, group),
               "variants": {v.name: {"loss": v.loss, "loss_kwargs": v.loss_kwargs, "runs": []} for v in variants}}
    for seed in seeds:
        for variant in variants:
            cfg = replace(config, loss=variant.loss, loss_kwargs=dict(variant.loss_kwargs), seed=seed, group=group)
            run_dir = None if out_dir is None else Path(out_dir) / "runs" / _slug(variant.name) / f"seed{seed}"
            trainer = Trainer(cfg, train_data, val_data, out_dir=run_dir)
            record = trainer.fit()
            if on_model is not None:
                on_model(variant.name, seed, trainer.model)
            video_emb, text_emb = embed(trainer.model, test_data)
            test = retrieval_metrics(video_emb, text_emb, groups=None if group is None else test_data.groups[group])
            curves = {d: recall_curve(video_emb, text_emb, direction=d, max_k=max_k).tolist()
                      for d in ("t2v", "v2t")}
            results["variants"][variant.name]["runs"].append(
                {"seed": seed, "test": test, "best_epoch": record["best_epoch"], "epochs_run": record["epochs_run"],
                 "wall_time_s": record["wall_time_s"], "step_losses": record["step_losses"], "recall_curves": curves})
            log(f"  {variant.name:<18} seed {seed}: T→V R@1 {test['t2v_r1']:.1f}  V→T R@1 {test['v2t_r1']:.1f}  "
                f"({record['wall_time_s']:.1f} s, {record['epochs_run']} epochs, best epoch {record['best_epoch']})")
    results["summary"] = summarize(results)
    if out_dir is not None:
        write_results(results, out_dir)
    return results


def _slug(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")


def _mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def summarize(results: dict, metrics: tuple[str, ...] = TABLE_METRICS) -> dict:
    """Per variant and metric (those of ``metrics`` its runs have): mean/std over seeds and, against the
    baseline, the paired difference."""
    base_runs = {r["seed"]: r["test"] for r in results["variants"][results["baseline"]]["runs"]}
    summary = {}
    for name, variant in results["variants"].items():
        entry = {"mean": {}, "std": {}, "diff": {}}
        for m in (m for m in metrics if m in variant["runs"][0]["test"]):
            entry["mean"][m], entry["std"][m] = _mean_std([r["test"][m] for r in variant["runs"]])
            if name != results["baseline"]:
                diffs = [r["test"][m] - base_runs[r["seed"]][m] for r in variant["runs"]]
                mean, std = _mean_std(diffs)
                sem = std / math.sqrt(len(diffs))
                entry["diff"][m] = {"mean": mean, "std": std, "sem": sem, "n": len(diffs),
                                    "beyond_noise": len(diffs) >= MIN_SEEDS and abs(mean) > 2 * sem}
        summary[name] = entry
    return summary


def format_table(results: dict) -> str:
    """A Markdown table: mean ± std per variant, the chance level, and paired differences to the baseline."""
    summary = results["summary"]
    metrics = [m for m in TABLE_METRICS if m in next(iter(summary.values()))["mean"]]
    lines = [f"| {'variant':<20} | " + " | ".join(LABELS[m] for m in metrics) + " |",
             "|" + "---|" * (len(metrics) + 1)]
    for name, entry in summary.items():
        cells = [f"{entry['mean'][m]:.1f} ± {entry['std'][m]:.1f}" for m in metrics]
        lines.append(f"| {name:<20} | " + " | ".join(cells) + " |")
    lines.append(f"| {'chance':<20} | " + " | ".join(f"{results['chance'][m]:.1f}" for m in metrics) + " |")
    for name, entry in summary.items():
        if entry["diff"]:
            cells = [f"{d['mean']:+.1f} ± {d['std']:.1f}{' *' if d['beyond_noise'] else ''}"
                     for d in (entry["diff"][m] for m in metrics)]
            lines.append(f"| {'Δ ' + name + ' − ' + results['baseline']:<20} | " + " | ".join(cells) + " |")
    n = len(results["seeds"])
    lines.append("")
    lines.append(f"{results['dataset']}: {results['n_test']} test pairs, {n} seed(s) {results['seeds']}; "
                 f"mean ± std over seeds; Δ rows: paired per-seed differences (mean ± std), "
                 f"* = |mean| > 2·sem (needs >= {MIN_SEEDS} seeds); recalls in %, MedR in ranks (lower is better)"
                 + (f"; semantic R@1 counts a hit when the top item shares the query's {results['group']!r}"
                    if results["group"] else "") + ".")
    return "\n".join(lines)


def verdict_lines(results: dict, metrics: tuple[str, ...] = VERDICT_METRICS) -> list[str]:
    """One line per non-baseline variant, computed from the paired differences on ``metrics``."""
    lines = []
    for name, entry in results["summary"].items():
        if not entry["diff"]:
            continue
        diffs = {m: entry["diff"][m] for m in metrics}
        parts = [f"{LABELS[m]} {d['mean']:+.1f} (sem {d['sem']:.1f})" for m, d in diffs.items()]
        # "better" in the metric's own sense: higher recall, lower rank
        side = {m: "better" if (d["mean"] < 0 if m.endswith(("medr", "mnr")) else d["mean"] > 0) else "worse"
                for m, d in diffs.items()}
        beyond = [m for m, d in diffs.items() if d["beyond_noise"]]
        n = diffs[metrics[0]]["n"]
        if n < MIN_SEEDS:
            judgement = f"too few seeds to tell a difference from seed noise (need >= {MIN_SEEDS})"
        elif len(beyond) == len(metrics) and len({side[m] for m in metrics}) == 1:
            judgement = f"{side[metrics[0]]} beyond seed noise"
        elif beyond:
            judgement = (", ".join(f"{side[m]} on {LABELS[m]}" for m in beyond)
                         + " beyond seed noise; the rest within it")
        else:
            judgement = "no difference beyond seed noise"
        lines.append(f"Verdict {name} vs {results['baseline']} over {n} paired seeds: "
                     f"{'; '.join(parts)} → {judgement}.")
    return lines


def write_results(results: dict, out_dir: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``results.json`` and ``results.md`` (table + verdict) into ``out_dir``."""
    out_dir = Path(out_dir)
    json_path = atomic_write_json(out_dir / "results.json", results)
    md = f"# {results['dataset']}: comparison\n\n{format_table(results)}\n\n" + "\n".join(verdict_lines(results)) + "\n"
    md_path = atomic_write_text(out_dir / "results.md", md)
    return json_path, md_path
