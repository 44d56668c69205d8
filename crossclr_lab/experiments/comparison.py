"""Multi-seed comparisons of losses (or of CrossCLR's components) on fixed splits, with honest statistics.

Every variant is trained once per seed on the same train split, selected on val, and evaluated on the
evaluation split. The summary gives mean ± std over seeds, the chance level, and the *paired* difference
to a baseline variant (per-seed differences, so the seed's shared luck cancels), tested with
:func:`crossclr_lab.experiments.stats.paired_difference` (a paired t-test at 5 %). Tables, verdicts and figures of
the results are rendered by :mod:`crossclr_lab.experiments.report`.

Example::

    variants = [Variant("crossclr", "crossclr"), Variant("infonce", "infonce")]
    results = run_comparison(variants, seeds=[0, 1, 2], splits=(train, val, test), config=TrainConfig(epochs=5))
    models = train_models(["crossclr", "infonce"], train, val, TrainConfig(epochs=5))   # {name: DualEncoder}
"""

from __future__ import annotations

import os
import re
import statistics
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

from crossclr_lab.data.paired import PairedFeatures
from crossclr_lab.data.provenance import describe
from crossclr_lab.experiments.jobs import run_jobs
from crossclr_lab.experiments.shipped_runs import RUN_FIELDS, load_shipped_runs, run_key
from crossclr_lab.experiments.stats import paired_difference
from crossclr_lab.files import atomic_write_json
from crossclr_lab.losses import CrossCLRLoss, build_loss, loss_defaults
from crossclr_lab.metrics import chance_levels, recall_curve, retrieval_metrics
from crossclr_lab.models import DualEncoder
from crossclr_lab.training.model_cache import cache_path, fit_cached, key_of
from crossclr_lab.training.runs import RunFolderError, clear, contents, held
from crossclr_lab.training.trainer import TrainConfig, Trainer, embed
from crossclr_lab.utils import resolve_device, run_provenance

TABLE_METRICS = ("t2v_r1", "t2v_r5", "t2v_r10", "t2v_medr", "v2t_r1", "v2t_r5", "v2t_r10", "v2t_medr",
                 "t2v_sem_r1", "v2t_sem_r1")
VERDICT_METRICS = ("t2v_r1", "v2t_r1")


@dataclass
class Variant:
    """One row of a comparison: a display name, a loss name and its keyword arguments."""

    name: str
    loss: str
    loss_kwargs: dict = field(default_factory=dict)


def ablation_variants(crossclr_kwargs: dict | None = None, queue_sizes: tuple[int, ...] = ()) -> list[Variant]:
    """CrossCLR with each component switched off in turn (and optional queue sizes), plus all off (= InfoNCE).

    The first variant, ``crossclr (full)``, is the baseline the others are compared to; its settings are
    CrossCLR's defaults (read from :class:`~crossclr_lab.losses.CrossCLRLoss`' signature) updated by
    ``crossclr_kwargs``.
    """
    defaults = loss_defaults("crossclr")
    full = {**{k: defaults[k] for k in CrossCLRLoss.COMPONENTS}, **(crossclr_kwargs or {})}
    variants = [Variant("crossclr (full)", "crossclr", full)]
    for key, label in (("intra_weight", "no intra"), ("prune_threshold", "no pruning"),
                       ("weight_temperature", "no weighting")):
        variants.append(Variant(label, "crossclr", {**full, key: CrossCLRLoss.COMPONENTS_OFF[key]}))
    variants.append(Variant("none (= InfoNCE)", "crossclr", {**full, **CrossCLRLoss.COMPONENTS_OFF}))
    variants += [Variant(f"queue {q}", "crossclr", {**full, "queue_size": q}) for q in queue_sizes
                 if q != full["queue_size"]]
    return variants


def as_variants(losses: Sequence[str | Variant]) -> list[Variant]:
    """Loss names (each with its defaults) or :class:`Variant` objects, as variants."""
    return [v if isinstance(v, Variant) else Variant(v, v) for v in losses]


def train_models(losses: Sequence[str | Variant], train: PairedFeatures, val: PairedFeatures | None,
                 config: TrainConfig, seed: int | None = None, log: Callable[[str], None] = print,
                 cache_dir: str | os.PathLike | None = None) -> dict[str, DualEncoder]:
    """Train one model per loss (same data, seed and schedule; only the loss differs), each selected on ``val``.

    Returns ``{variant name: model}`` with the best-on-val weights; ``seed`` overrides ``config.seed``. With
    ``cache_dir`` a model trained before with the same data, loss, seed and settings is loaded instead of
    retrained, and a new one is cached (:func:`crossclr_lab.training.model_cache.fit_cached`).
    """
    models = {}
    for variant in as_variants(losses):
        cfg = replace(config, loss=variant.loss, loss_kwargs=dict(variant.loss_kwargs),
                      seed=config.seed if seed is None else seed)
        model, record = fit_cached(cfg, train, val, cache_dir)
        models[variant.name] = model
        how = {"cache": "loaded from the cache", "shipped": "loaded from the kit's shipped checkpoint"}.get(
            record["cached"], f"in {record['wall_time_s']:.1f} s")
        log(f"{variant.name}: {record['epochs_run']} epochs {how}, best val epoch {record['best_epoch']}")
    return models


def run_comparison(variants: list[Variant], seeds: list[int], splits: tuple, config: TrainConfig,
                   group: str | None = None, out_dir: str | os.PathLike | None = None, baseline: str | None = None,
                   log: Callable[[str], None] = print, curve_k: int = 50,
                   on_model: Callable[[str, int, object], None] | None = None, overwrite: bool = False,
                   extra: dict | None = None, cache_dir: str | os.PathLike | None = None, jobs: int = 1,
                   progress: bool = True, use_shipped: bool = True) -> dict:
    """Train every variant with every seed; return JSON-able results (also ``out_dir/results.json``).

    ``splits = (train, val, test)``; ``val`` may be ``None`` (no model selection: the last epoch is used).
    ``baseline`` names the variant the paired differences are taken against (default: the first).
    ``on_model(variant_name, seed, model)`` is called with each selected model (e.g. to keep embeddings).
    ``out_dir`` is locked while the comparison runs; earlier results there are refused unless ``overwrite``
    (which deletes only what crossclr_lab wrote, see :mod:`crossclr_lab.training.runs`). ``extra`` fields (e.g. the
    command that ran it) are stored in the results beside the provenance (device, versions, git, data).
    ``cache_dir`` (only without ``out_dir``): reuse models cached by an earlier run with the same data, loss,
    seed and settings, and cache new ones (:func:`crossclr_lab.training.model_cache.fit_cached`); a run not trained
    here before takes the kit's shipped results when they hold it (:mod:`crossclr_lab.experiments.shipped_runs`:
    no training; not with ``on_model``, which needs the models) or its shipped model; ``use_shipped=False``
    trains those runs instead. Each run entry says where it came from (``origin``).
    ``jobs`` runs train in that many worker processes (one torch thread each; the results are those of
    ``jobs=1`` with one thread, see :mod:`crossclr_lab.experiments.jobs`); ``progress`` shows a bar over the runs.
    """
    with held(out_dir):
        if out_dir is not None:
            ours, _ = contents(out_dir)
            if ours and not overwrite:
                raise RunFolderError(f"{out_dir} holds earlier results ({', '.join(ours)}); pass overwrite=True to "
                                     "replace them or choose another out_dir")
            clear(out_dir)
        return _run_comparison(variants, seeds, splits, config, group, out_dir, baseline, log, curve_k, on_model,
                               extra, cache_dir, jobs, progress, use_shipped)


def _run_comparison(variants, seeds, splits, config, group, out_dir, baseline, log, curve_k, on_model,
                    extra, cache_dir, jobs, progress, use_shipped) -> dict:
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
               "chance": chance_levels(len(test_data), None if group is None else test_data.groups[group]),
               "variants": {v.name: {"loss": v.loss, "loss_kwargs": v.loss_kwargs, "runs": []} for v in variants}}
    data = {"train": describe(train_data), "test": describe(test_data)}
    if val_data is not None:
        data["val"] = describe(val_data)
    results.update(run_provenance(resolve_device(config.device), data=data), **(extra or {}))
    tasks = [(seed, variant) for seed in seeds for variant in variants]
    shipped = {} if cache_dir is None or not use_shipped or on_model is not None else _shipped_runs(
        tasks, splits, config, group, max_k, cache_dir, {k: d.get("fingerprint") for k, d in data.items()})
    context = {"splits": tuple(None if s is None else replace(s, thumbnail_fn=None) for s in splits),
               "config": config, "group": group, "out_dir": out_dir, "cache_dir": cache_dir, "max_k": max_k,
               "keep_model": on_model is not None, "use_shipped": use_shipped}
    to_run = [task for i, task in enumerate(tasks) if i not in shipped]
    trained = run_jobs(_train_and_test, to_run, context, jobs, desc="runs", progress=progress,
                       postfix=lambda r: f"T→V R@1 {r[0]['test']['t2v_r1']:.1f}") if to_run else iter(())
    for i, (seed, variant) in enumerate(tasks):
        run, model, took = (shipped[i], None, "shipped result") if i in shipped else next(trained)
        if on_model is not None:
            on_model(variant.name, seed, model)
        results["variants"][variant.name]["runs"].append(run)
        test = run["test"]
        log(f"  {variant.name:<18} seed {seed}: T→V R@1 {test['t2v_r1']:.1f}  V→T R@1 {test['v2t_r1']:.1f}  "
            f"({took}, {run['epochs_run']} epochs, best epoch {run['best_epoch']})")
    results["summary"] = summarize(results)
    if out_dir is not None:
        atomic_write_json(Path(out_dir) / "results.json", results)
    return results


def _run_config(config: TrainConfig, variant: Variant, seed: int, group: str | None) -> TrainConfig:
    return replace(config, loss=variant.loss, loss_kwargs=dict(variant.loss_kwargs), seed=seed, group=group)


def run_keys(config: TrainConfig, variant: Variant, seed: int, group: str | None, max_k: int,
             prints: dict[str, str]) -> tuple[str, str]:
    """``(model key, run key)`` of one comparison run: its model's cache key
    (:func:`~crossclr_lab.training.model_cache.key_of`) and its key among shipped results
    (:func:`~crossclr_lab.experiments.shipped_runs.run_key`). ``prints``: the splits' fingerprints by name
    (``"train"``, ``"test"`` and, when there is one, ``"val"``); ``max_k``: the recall curves' length."""
    model_key, _ = key_of(_run_config(config, variant, seed, group), prints["train"], prints.get("val", "none"))
    return model_key, run_key(model_key, prints["test"], group, max_k)


def run_entries(results: dict, config: TrainConfig) -> dict[str, dict]:
    """``{run key: run entry}`` of a comparison's ``results``, as a shipped runs file holds them
    (:func:`~crossclr_lab.experiments.shipped_runs.write_shipped_runs`); ``config``: the training settings the
    comparison was given."""
    prints = {split: d.get("fingerprint") for split, d in results["data"].items()}
    entries = {}
    for name, v in results["variants"].items():
        variant = Variant(name, v["loss"], v["loss_kwargs"])
        for run in v["runs"]:
            _, key = run_keys(config, variant, run["seed"], results["group"], len(run["recall_curves"]["t2v"]),
                              prints)
            entries[key] = {k: run[k] for k in RUN_FIELDS}
    return entries


def _shipped_runs(tasks: list, splits: tuple, config: TrainConfig, group: str | None, max_k: int, cache_dir,
                  prints: dict) -> dict[int, dict]:
    """``{task index: run entry}`` for the tasks the kit's shipped results hold, except those with a model
    trained here before (cached in ``cache_dir``: that model is evaluated instead). ``prints``: the splits'
    fingerprints by name (computed once for the results' provenance)."""
    train, val, test = splits
    entries = load_shipped_runs(test.name)
    found = {}
    for i, (seed, variant) in enumerate(tasks if entries else []):
        model_key, key = run_keys(config, variant, seed, group, max_k, prints)
        cached_here = cache_path(_run_config(config, variant, seed, group), train, val, cache_dir, model_key)
        if key in entries and not cached_here.is_file():
            found[i] = {**entries[key], "seed": seed, "origin": "shipped results"}
    return found


def _train_and_test(task: tuple[int, Variant], context: dict) -> tuple[dict, DualEncoder | None, str]:
    """One run of a comparison (a :func:`~crossclr_lab.experiments.jobs.run_jobs` job): train ``variant`` with
    ``seed``, select on val, evaluate on test. Returns ``(run entry, model or None, how long it took)``."""
    seed, variant = task
    train_data, val_data, test_data = context["splits"]
    group, out_dir = context["group"], context["out_dir"]
    cfg = _run_config(context["config"], variant, seed, group)
    if out_dir is None:
        model, record = fit_cached(cfg, train_data, val_data, context["cache_dir"],
                                   use_shipped=context["use_shipped"])
    else:
        run_dir = Path(out_dir) / "runs" / run_folder(variant.name) / f"seed{seed}"
        trainer = Trainer(cfg, train_data, val_data, out_dir=run_dir, resumable=False)
        model, record = trainer.model, trainer.fit()
    video_emb, text_emb = embed(model, test_data)
    test = retrieval_metrics(video_emb, text_emb, groups=None if group is None else test_data.groups[group])
    curves = {d: recall_curve(video_emb, text_emb, direction=d, max_k=context["max_k"]).tolist()
              for d in ("t2v", "v2t")}
    origin = {"cache": "model cached here", "shipped": "shipped model"}.get(record.get("cached"), "trained")
    run = {"seed": seed, "test": test, "best_epoch": record["best_epoch"], "epochs_run": record["epochs_run"],
           "wall_time_s": record["wall_time_s"], "step_losses": record["step_losses"], "recall_curves": curves,
           "origin": origin}
    took = "cached" if record.get("cached") else f"{record['wall_time_s']:.1f} s"
    return run, model if context["keep_model"] else None, took


def run_folder(name: str) -> str:
    """A variant's run-folder name: lower case, runs of other characters as ``_`` (``"no intra"`` → ``no_intra``);
    ``ValueError`` when nothing is left (``".."``)."""
    slug = re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")
    if not slug:
        raise ValueError(f"variant name {name!r} cannot be used in a file path: give it letters or digits")
    return slug


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
                entry["diff"][m] = paired_difference([r["test"][m] for r in variant["runs"]],
                                                     [base_runs[r["seed"]][m] for r in variant["runs"]])
        summary[name] = entry
    return summary
