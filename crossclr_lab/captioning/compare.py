"""Captioning as a downstream test of a joint space: the same small captioner on CrossCLR's, InfoNCE's and the raw
input features' clip vectors, over several seeds, against a constant-caption baseline.

For each seed ``s``: the CrossCLR and InfoNCE dual encoders of seed ``s`` (trained here with
:func:`crossclr_lab.experiments.comparison.run_comparison`, or loaded from such a run's folder) give frozen video
embeddings of
every train/val/test clip; a :mod:`crossclr_lab.captioning.model` decoder with seed ``s`` is trained on each, and
also on the raw pooled video features (no joint space at all). Test captions are scored against every
clip's references (:func:`crossclr_lab.captioning.model.clip_references`) with :mod:`crossclr_lab.captioning.metrics`.
The summary is :func:`crossclr_lab.experiments.comparison.summarize`'s: mean ± std over seeds and paired per-seed
differences
to InfoNCE, "beyond seed noise" by :func:`crossclr_lab.experiments.stats.paired_difference` (a paired t-test at 5 %).

Example::

    models, retrieval = train_encoders(splits, TrainConfig(epochs=30), seeds=[0, 1, 2])
    with CaptionScorer() as scorer:
        results = run_captioning(models, splits, CaptionerConfig(), scorer)
    print(format_caption_table(results)); print("\\n".join(caption_verdict_lines(results)))
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable

from crossclr_lab.captioning.metrics import COCO_METRICS, LOWER_IS_BETTER, REPETITION_METRIC, CaptionScorer
from crossclr_lab.captioning.model import CaptionerConfig, clip_references, most_frequent_caption, train_captioner
from crossclr_lab.data.paired import PairedFeatures
from crossclr_lab.data.provenance import input_mismatch
from crossclr_lab.experiments.comparison import Variant, run_comparison, summarize
from crossclr_lab.experiments.jobs import run_jobs
from crossclr_lab.experiments.report import format_table
from crossclr_lab.experiments.stats import format_difference, format_p, judgement, significance_note
from crossclr_lab.files import atomic_write_json, atomic_write_text
from crossclr_lab.models import DualEncoder, build_model
from crossclr_lab.training.checkpoint import load_checkpoint
from crossclr_lab.training.trainer import TrainConfig, embed

ENCODER_LOSSES = ("crossclr", "infonce")
RAW = "raw features"
BASELINE = "infonce"
CAPTION_METRICS = COCO_METRICS + (REPETITION_METRIC,)
VERDICT_METRICS = ("CIDEr-D", "BLEU@4", "METEOR")
RETRIEVAL_KEYS = ("dataset", "n_test", "group", "seeds", "baseline", "chance", "summary")


def train_encoders(splits: tuple, config: TrainConfig, seeds: list[int], out_dir: str | os.PathLike | None = None,
                   log: Callable[[str], None] = print, jobs: int = 1, progress: bool = True) -> tuple[dict, dict]:
    """Train CrossCLR and InfoNCE dual encoders per seed (``experiments.run_comparison``; val selects the model).

    Returns ``(models, retrieval)``: ``models[loss][seed]`` a :class:`DualEncoder`, ``retrieval`` the comparison's
    results (also written, with each run's checkpoint, to ``out_dir`` when given, so ``load_encoders`` can reuse it).
    ``jobs``: runs trained at once in worker processes (:mod:`crossclr_lab.experiments.jobs`); ``progress``: a bar
    over the runs.
    """
    models: dict[str, dict[int, DualEncoder]] = {loss: {} for loss in ENCODER_LOSSES}
    retrieval = run_comparison([Variant(loss, loss) for loss in ENCODER_LOSSES], seeds, splits, config,
                               group=config.group, out_dir=out_dir, baseline=BASELINE, log=log,
                               on_model=lambda name, seed, model: models[name].__setitem__(seed, model), jobs=jobs,
                               progress=progress)
    return models, retrieval


def load_encoders(run_dir: str | os.PathLike, train: PairedFeatures,
                  seeds: list[int] | None = None) -> tuple[dict, dict]:
    """The CrossCLR and InfoNCE models of a finished ``crossclr-lab compare --out RUN_DIR`` run (its best-on-val
    weights, from each run's ``checkpoint.pt``), for ``seeds`` (default: all of the run's).

    ``train`` must be the split the run trained on: its full description (dataset, loader settings such as the
    feature names in their order, feature widths, size and fingerprint) must equal the one the run recorded.
    Returns ``(models, retrieval)`` like :func:`train_encoders`; ``ValueError`` / ``FileNotFoundError`` in one
    line naming what does not fit otherwise.
    """
    run_dir = Path(run_dir)
    path = run_dir / "results.json"
    if not path.is_file():
        raise FileNotFoundError(f"no results.json in {run_dir}: pass the --out folder of a finished "
                                "`crossclr-lab compare` run (with crossclr and infonce among its --losses)")
    retrieval = _read_json(path)
    missing = [loss for loss in ENCODER_LOSSES if retrieval.get("variants", {}).get(loss, {}).get("loss") != loss]
    if missing:
        raise ValueError(f"{run_dir} has no variant(s) {', '.join(missing)} with the default settings' names; "
                         f"it compared {', '.join(retrieval.get('variants', {})) or 'nothing'}")
    _check_inputs(retrieval, path, train)
    available = retrieval.get("seeds")
    if not isinstance(available, list):
        raise ValueError(f"{path} does not list its seeds: pass the --out folder of a finished compare run")
    seeds = available if seeds is None else seeds
    if not set(seeds) <= set(available):
        raise ValueError(f"{run_dir} has seeds {available}; asked for {seeds}")
    models = {}
    for loss in ENCODER_LOSSES:
        models[loss] = {}
        for seed in seeds:
            folder = run_dir / "runs" / loss / f"seed{seed}"  # compare's runs/<variant name slug>/seed<k>
            if not (folder / "checkpoint.pt").is_file() or not (folder / "record.json").is_file():
                raise FileNotFoundError(f"{folder} lacks checkpoint.pt or record.json (did the compare run finish?)")
            models[loss][seed] = _load_encoder(folder, loss, train)
    return models, retrieval


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is damaged (not JSON: {err}); run the compare again") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not a run's record (a JSON object); run the compare again")
    return data


def _check_inputs(record: dict, path: Path, train: PairedFeatures) -> None:
    """``ValueError`` unless ``record["data"]["train"]`` describes exactly ``train``."""
    recorded = record.get("data", {}).get("train") if isinstance(record.get("data"), dict) else None
    if not isinstance(recorded, dict):
        raise ValueError(f"{path} does not record the inputs its encoders were trained on ('data' → 'train'); "
                         "run the compare again with this version of the kit")
    mismatch = input_mismatch(recorded, train)
    if mismatch is not None:
        raise ValueError(f"{path.parent} was trained on other inputs than the data given ({mismatch}): use the "
                         "same --dataset, --split-kind and --video-features as that run")


def _load_encoder(folder: Path, loss: str, train: PairedFeatures) -> DualEncoder:
    """The best-on-val dual encoder of one finished run folder, after checking its record names ``loss``, its
    inputs are ``train`` and its weights fit the model its config builds."""
    record = _read_json(folder / "record.json")
    cfg = record.get("config")
    needed = ("loss", "encoder", "embed_dim", "hidden_dim", "dropout", "learn_temperature")
    if not isinstance(cfg, dict) or any(k not in cfg for k in needed):
        raise ValueError(f"{folder / 'record.json'} lacks the encoder settings ({', '.join(needed)}) in its "
                         "'config'; run the compare again")
    if cfg["loss"] != loss:
        raise ValueError(f"{folder / 'record.json'} is a {cfg['loss']!r} run, expected {loss!r}")
    _check_inputs(record, folder / "record.json", train)
    state = load_checkpoint(folder / "checkpoint.pt")       # checksum-verified; CheckpointError otherwise
    identity = state.get("identity") if isinstance(state, dict) else None
    if isinstance(identity, dict):                          # the checkpoint's own record of its inputs
        _check_inputs(identity, folder / "checkpoint.pt", train)
    try:
        model = build_model(train, cfg["encoder"], cfg["embed_dim"], cfg["hidden_dim"], cfg["dropout"],
                            learn_temperature=cfg["learn_temperature"])
        model.load_state_dict(state["best"]["model"] if state.get("best") else state["model"])
    except (KeyError, RuntimeError, TypeError, AttributeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"{folder / 'checkpoint.pt'} does not fit the model its record describes "
                         f"({type(err).__name__}: {first}); run the compare again") from None
    return model.eval()


def clip_vectors(models: dict, splits: tuple, seed: int) -> dict[str, tuple]:
    """Encoder name -> ``(train, val, test)`` clip vectors ``[N, D]`` for one seed (val ``None`` when absent):
    each dual encoder's normalised video embeddings, and the raw pooled video features."""
    vectors = {}
    for loss in ENCODER_LOSSES:
        vectors[loss] = tuple(None if s is None else embed(models[loss][seed], s)[0] for s in splits)
    vectors[RAW] = tuple(None if s is None else s.video_pooled.float() for s in splits)
    return vectors


def _train_and_caption(task: tuple[int, str], context: dict) -> tuple[list[str], dict]:
    """One captioner (a :func:`~crossclr_lab.experiments.jobs.run_jobs` job): trained with seed ``s`` on the clip
    vectors of ``task = (s, encoder name)``; returns its test captions and its record."""
    seed, name = task
    v_train, v_val, v_test = context["vectors"][seed][name]
    captioner, record = train_captioner(v_train, context["captions"], v_val, context["val_refs"],
                                        CaptionerConfig(**{**context["config"], "seed": seed}))
    return captioner.caption(v_test), record


def run_captioning(models: dict, splits: tuple, config: CaptionerConfig, scorer: CaptionScorer,
                   retrieval: dict | None = None, log: Callable[[str], None] = print, jobs: int | None = 1,
                   progress: bool = False) -> dict:
    """Train and score one captioner per encoder and seed (the seeds of ``models``); returns JSON-able results.

    ``splits = (train, val, test)``; val (``None`` allowed) selects each captioner's epoch; test is scored here.
    ``jobs``: captioners trained at once in worker processes (``None``: one per CPU; the results are those of
    ``jobs=1``, :mod:`crossclr_lab.experiments.jobs`); ``progress``: a bar over them.
    """
    train, val, test = splits
    seeds = sorted(next(iter(models.values())))
    if any(sorted(models[loss]) != seeds for loss in ENCODER_LOSSES):
        raise ValueError(f"every encoder needs the same seeds, got {({k: sorted(v) for k, v in models.items()})}")
    test_refs = clip_references(test)
    val_refs = None if val is None else clip_references(val)
    trivial = most_frequent_caption(train.captions)
    results = {"dataset": test.name, "n_train": len(train), "n_val": val and len(val), "n_test": len(test),
               "seeds": seeds, "baseline": BASELINE, "captioner": vars(config) | {"seed": "= the encoder's seed"},
               "references_per_clip": sum(map(len, test_refs)) / len(test_refs), "skipped": scorer.skipped,
               "test_ids": list(test.ids), "test_references": test_refs,
               "trivial": {"caption": trivial, "test": scorer.score([trivial] * len(test), test_refs)["scores"]},
               "variants": {name: {"runs": []} for name in (*ENCODER_LOSSES, RAW)}}
    if retrieval is not None:
        # the encoders' own test retrieval, enough for report.format_table (per-run curves and losses left out)
        results["retrieval"] = {k: retrieval[k] for k in RETRIEVAL_KEYS}
    vectors = {seed: clip_vectors(models, splits, seed) for seed in seeds}
    tasks = [(seed, name) for seed in seeds for name in vectors[seed]]
    context = {"vectors": vectors, "captions": list(train.captions), "val_refs": val_refs, "config": vars(config)}
    for (captions, record), (seed, name) in zip(run_jobs(_train_and_caption, tasks, context, jobs,
                                                         desc="captioners", progress=progress), tasks):
        scores = scorer.score(captions, test_refs)["scores"]
        results["variants"][name]["runs"].append(
            {"seed": seed, "test": scores, "captions": captions, "best_epoch": record["best_epoch"],
             "history": record["history"], "wall_time_s": record["wall_time_s"],
             "vocab_size": record["vocab_size"]})
        log(f"  {name:<13} seed {seed}: CIDEr-D {scores['CIDEr-D']:.1f}  BLEU@4 {scores['BLEU@4']:.1f}  "
            f"RE@4 {scores[REPETITION_METRIC]:.1f}  ({record['wall_time_s']:.1f} s, best epoch "
            f"{record['best_epoch']}/{config.epochs})")
    results["summary"] = summarize(results, CAPTION_METRICS)
    return results


def format_caption_table(results: dict) -> str:
    """Markdown: mean ± std per encoder, the constant caption, paired Δ to the baseline, and what was skipped."""
    metrics = [m for m in CAPTION_METRICS if m in results["trivial"]["test"]]
    summary = results["summary"]
    lines = [f"| {'clip vectors':<24} | " + " | ".join(metrics) + " |", "|" + "---|" * (len(metrics) + 1)]
    for name, entry in summary.items():
        lines.append(f"| {name:<24} | " + " | ".join(f"{entry['mean'][m]:.2f} ± {entry['std'][m]:.2f}"
                                                     for m in metrics) + " |")
    lines.append(f"| {'constant caption':<24} | " + " | ".join(f"{results['trivial']['test'][m]:.2f}"
                                                               for m in metrics) + " |")
    n_tests = 0
    for name, entry in summary.items():
        if entry["diff"]:
            cells = [format_difference(entry["diff"][m], decimals=2) for m in metrics]
            n_tests += len(cells)
            lines.append(f"| {'Δ ' + name + ' − ' + results['baseline']:<24} | " + " | ".join(cells) + " |")
    lines += ["", f"{results['dataset']}: {results['n_test']} test clips, {results['references_per_clip']:.1f} "
              f"references per clip; {len(results['seeds'])} seed(s) {results['seeds']}; mean ± std over seeds; "
              f"Δ rows: paired per-seed differences, mean (sem) and p-value; "
              f"{significance_note(len(results['seeds']), n_tests)}. "
              f"Scores x100; higher is better except {', '.join(LOWER_IS_BETTER)} (repeated 4-grams). "
              f"Constant caption: {results['trivial']['caption']!r} for every clip."]
    lines += [f"{m}: skipped, {reason}." for m, reason in results["skipped"].items()]
    return "\n".join(lines)


def caption_verdict_lines(results: dict) -> list[str]:
    """Sentences computed from the numbers: each encoder against the baseline, and against the constant caption."""
    lines = []
    metrics = [m for m in VERDICT_METRICS if m in results["trivial"]["test"]]
    for name, entry in results["summary"].items():
        if not entry["diff"]:
            continue
        diffs = {m: entry["diff"][m] for m in metrics}
        parts = "; ".join(f"{m} {d['mean']:+.2f} (sem {d['sem']:.2f}, {format_p(d['p'])})" for m, d in diffs.items())
        n = diffs[metrics[0]]["n"]
        better = {m: (d["mean"] < 0) == (m in LOWER_IS_BETTER) for m, d in diffs.items()}
        lines.append(f"Captioning from {name} vs {results['baseline']} over {n} paired seeds: {parts} → "
                     f"{judgement(diffs, better, n)}.")
    trivial = results["trivial"]["test"]
    above = [name for name, e in results["summary"].items() if e["mean"]["CIDEr-D"] > trivial["CIDEr-D"]]
    line = (f"Against the constant caption (CIDEr-D {trivial['CIDEr-D']:.2f}): "
            + (f"{', '.join(above)} above it on mean CIDEr-D." if above else "no captioner above it on mean CIDEr-D."))
    wins = [m for m in CAPTION_METRICS if m in trivial and m not in LOWER_IS_BETTER
            and all(trivial[m] >= e["mean"][m] for e in results["summary"].values())]
    if wins:
        line += f" The constant caption matches or beats every captioner on {', '.join(wins)}"
        line += (": n-gram overlap rewards the frequent words it repeats, whereas CIDEr-D weights each n-gram by its "
                 "rarity." if "CIDEr-D" not in wins else ".")
    return lines + [line]


def write_caption_results(results: dict, out_dir: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``captioning.json`` and ``captioning.md`` (table + verdict) into ``out_dir`` atomically."""
    out_dir = Path(out_dir)
    json_path = atomic_write_json(out_dir / "captioning.json", results)
    md = (f"# {results['dataset']}: captioning from frozen clip vectors\n\n{format_caption_table(results)}\n\n"
          + "\n".join(caption_verdict_lines(results)) + "\n")
    if "retrieval" in results:
        md += "\n## The encoders' retrieval (test)\n\n" + format_table(results["retrieval"]) + "\n"
    return json_path, atomic_write_text(out_dir / "captioning.md", md)
