"""The ``crossclr-lab`` command line (also ``python -m crossclr_lab``).

Subcommands live in :data:`COMMANDS`: name -> (help line, function adding its arguments, function running
it and returning an exit code). Adding one (e.g. ``notebooks``) means adding one entry. Exit codes: 0 success,
2 usage errors (bad arguments, unknown dataset path), 1 anything else.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Callable

CROSSCLR_FLAGS = ("intra_weight", "prune_threshold", "weight_temperature", "queue_size")


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
def _add_threads_arg(p, default: int | None) -> None:
    p.add_argument("--threads", type=int, default=default,
                   help="CPU threads for torch (default: %s); small models run fastest on 1, "
                        "and 1 is immune to other processes competing for the cores"
                        % ("torch's default" if default is None else default))


def _add_data_args(p: argparse.ArgumentParser, default: str | None = "emoji_motion") -> None:
    from crossclr_lab.data.emoji_motion import DEFAULT_VIDEO_FEATURES, SPLIT_KINDS, VIDEO_FEATURES
    from crossclr_lab.data.registry import DATASETS

    p.add_argument("--dataset", default=default, choices=sorted(DATASETS), help="dataset name (default: %(default)s)")
    p.add_argument("--data-root",
                   help="dataset folder (required for youcook2; emoji_motion defaults to the shipped copy)")
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


def _add_train_args(p: argparse.ArgumentParser, epochs: int = 40) -> None:
    from crossclr_lab.models import ENCODERS
    from crossclr_lab.train import AMP_DTYPES, OPTIMIZERS

    g = p.add_argument_group("training")
    g.add_argument("--epochs", type=int, default=epochs, help="(default: %(default)s)")
    g.add_argument("--batch-size", type=int, default=64,
                   help="(default: %(default)s; under torchrun: the global batch, split evenly over the processes)")
    g.add_argument("--lr", type=float, default=7e-4, help="(default: %(default)s)")
    g.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default="radam")
    g.add_argument("--warmup-epochs", type=float, default=4.0, help="linear lr warm-up (default: %(default)s)")
    g.add_argument("--early-stop-patience", type=int, help="stop after N evaluations without val improvement")
    g.add_argument("--encoder", choices=ENCODERS, default="mlp", help="(default: %(default)s)")
    g.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:N")
    g.add_argument("--amp", choices=sorted(AMP_DTYPES), default="none", help="autocast dtype (default: none)")
    g.add_argument("--no-progress", action="store_true", help="hide progress bars (also hidden when CI is set)")
    _add_threads_arg(g, default=None)
    g = p.add_argument_group("loss (CrossCLR flags apply to crossclr only; 'none' switches a component off)")
    g.add_argument("--temperature", type=float, help="τ (default: the loss's, 0.03)")
    # CrossCLR flags default to "not given" (absent from args), so that 'none' can mean "switched off"
    g.add_argument("--intra-weight", type=float, default=argparse.SUPPRESS,
                   help="λ, 0 = no intra-modality negatives (default 0.8)")
    g.add_argument("--prune-threshold", type=_optional_float, default=argparse.SUPPRESS,
                   help="γ in (0, 1] or none (default 0.9)")
    g.add_argument("--weight-temperature", type=_optional_float, default=argparse.SUPPRESS,
                   help="κ > 0 or none (default 3.5e-3)")
    g.add_argument("--queue-size", type=int, default=argparse.SUPPRESS,
                   help="FIFO queue of earlier batches per modality (default 0)")


def _train_config(args, **overrides):
    from crossclr_lab.train import TrainConfig

    settings = dict(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, optimizer=args.optimizer,
                    warmup_epochs=args.warmup_epochs, early_stop_patience=args.early_stop_patience,
                    encoder=args.encoder, device=args.device, amp=args.amp, progress=not args.no_progress)
    try:
        return TrainConfig(**{**settings, **overrides})
    except ValueError as err:
        raise UsageError(str(err)) from None


def _loss_kwargs(args, loss: str, strict: bool) -> dict:
    """Keyword arguments for ``loss`` from the flags given; ``strict``: CrossCLR flags on another loss are an error."""
    kwargs = {}
    if args.temperature is not None and loss != "max_margin":
        kwargs["temperature"] = args.temperature
    given = {k: getattr(args, k) for k in CROSSCLR_FLAGS if hasattr(args, k)}
    if loss == "crossclr":
        kwargs.update(given)
    elif given and strict:
        flags = ", ".join("--" + k.replace("_", "-") for k in given)
        raise UsageError(f"{flags}: only for --loss crossclr, not {loss!r}")
    return kwargs


def _load_splits(args) -> tuple[tuple, str]:
    """``(train, val, eval)`` for the dataset and the name of the evaluation split.

    The evaluation split is ``test`` when the dataset has one (val then selects the model); YouCook2 has no
    public test split, so there it is ``val`` and training runs without model selection (val = ``None``).
    """
    from crossclr_lab.data import load_dataset
    from crossclr_lab.data.registry import SPLITS

    kwargs = {}
    if args.split_kind is not None:
        if args.dataset != "emoji_motion":
            raise UsageError(f"--split-kind applies to --dataset emoji_motion only, not {args.dataset!r}")
        kwargs["split_kind"] = args.split_kind
    if args.video_features is not None:
        if args.dataset != "emoji_motion":
            raise UsageError(f"--video-features applies to --dataset emoji_motion only, not {args.dataset!r}")
        kwargs["video_features"] = args.video_features
    if args.text_features is not None:
        if args.dataset != "youcook2":
            raise UsageError(f"--text-features applies to --dataset youcook2 only, not {args.dataset!r}")
        kwargs["text_features"] = args.text_features
    has_test = "test" in SPLITS[args.dataset]
    if args.pair is not None:
        if args.dataset != "emoji_motion" or args.video_features is not None:
            raise UsageError("--pair applies to --dataset emoji_motion only, without --video-features")
        from crossclr_lab.data.view_pairs import load_view_pair

        try:
            splits = tuple(load_view_pair(args.pair, split, root=args.data_root, **kwargs)
                           for split in ("train", "val", "test"))
        except (FileNotFoundError, ValueError) as err:
            raise UsageError(f"cannot load the view pair {' '.join(args.pair)}: {err}") from None
        return splits, "test"
    try:
        if has_test:
            splits = tuple(load_dataset(args.dataset, s, args.data_root, **kwargs) for s in ("train", "val", "test"))
        else:
            splits = (load_dataset(args.dataset, "train", args.data_root, **kwargs), None,
                      load_dataset(args.dataset, "val", args.data_root, **kwargs))
    except (FileNotFoundError, ValueError) as err:
        raise UsageError(f"cannot load dataset {args.dataset!r}: {err}") from None
    return splits, "test" if has_test else "val"


def _group(args, features) -> str | None:
    from crossclr_lab.compare import default_group

    if args.group is None:
        return default_group(features)
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
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    _add_train_args(p)


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
    from crossclr_lab.distributed import is_main_process
    from crossclr_lab.train import Trainer, evaluate
    from crossclr_lab.utils import atomic_write_json

    (train, val, test), eval_split = _load_splits(args)
    group = _group(args, test)
    config = _train_config(args, loss=args.loss, loss_kwargs=_loss_kwargs(args, args.loss, strict=True),
                           seed=args.seed, group=group, checkpoint_every=None, device=device)
    has_checkpoint = (Path(args.out) / "checkpoint.pt").exists()
    if args.resume and not has_checkpoint:
        raise UsageError(f"--resume: no checkpoint.pt in {args.out}; run without --resume first")
    if has_checkpoint and not args.resume and is_main_process():
        print(f"note: {args.out} holds an earlier run; starting afresh and replacing it (--resume continues it)")
    try:
        trainer = Trainer(config, train, val, out_dir=args.out)
    except ValueError as err:
        raise UsageError(str(err)) from None
    record = trainer.fit(resume=args.resume)
    if not is_main_process():  # rank 0 evaluates, writes and reports
        return 0
    record[eval_split] = metrics = evaluate(trainer.model, test, group)
    atomic_write_json(Path(args.out) / "record.json", record)
    selection = (f"best val epoch {record['best_epoch']}" if val is not None
                 else "no separate val split: last epoch evaluated")
    print(f"{args.loss} on {train.name}: {record['epochs_run']} epochs, {record['wall_time_s']:.1f} s, {selection}")
    print(f"{eval_split}: " + "  ".join(f"{k} {v:.2f}" for k, v in metrics.items()))
    print(f"record: {Path(args.out) / 'record.json'}")
    return 0


# -- compare / ablate ------------------------------------------------------------------------------------------
def _add_compare_common(p: argparse.ArgumentParser, seeds: int, epochs: int) -> None:
    _add_data_args(p)
    p.add_argument("--seeds", type=int, default=seeds, help="seeds 0..N-1, all reported (default: %(default)s)")
    p.add_argument("--out", required=True, help="folder for results.json, results.md, figures and per-run records")
    _add_train_args(p, epochs=epochs)


def add_compare(p: argparse.ArgumentParser) -> None:
    from crossclr_lab.losses import LOSSES

    p.add_argument("--losses", nargs="+", choices=list(LOSSES), default=["crossclr", "infonce"],
                   help="losses to compare (default: crossclr infonce)")
    p.add_argument("--baseline", choices=list(LOSSES), help="paired differences against this loss (default: infonce "
                                                          "when compared, else the first)")
    p.add_argument("--ablation", action="store_true", help="run the CrossCLR component ablation instead (= ablate)")
    _add_compare_common(p, seeds=5, epochs=40)


def add_ablate(p: argparse.ArgumentParser) -> None:
    p.add_argument("--queue-sizes", nargs="*", type=int, default=[],
                   help="extra variants: full CrossCLR with these queue sizes")
    _add_compare_common(p, seeds=5, epochs=40)


def _run_variants(variants, baseline: str, seeds: int, splits: tuple, eval_split: str, config, out: str,
                  title: str, on_model=None) -> dict:
    """Run a comparison, print its table and verdict; returns the results."""
    from crossclr_lab.compare import format_table, run_comparison, verdict_lines

    if seeds < 1:
        raise UsageError(f"--seeds must be >= 1, got {seeds}")
    selection = (f"val {len(splits[1])} pairs selects the model" if splits[1] is not None
                 else "no separate val split: the last epoch is evaluated")
    print(f"{title}: {len(variants)} variants × {seeds} seeds on {splits[2].name} (train {len(splits[0])} pairs; "
          f"{selection}; evaluated on {eval_split}, {len(splits[2])} pairs; {config.epochs} epochs)", flush=True)
    try:
        results = run_comparison(variants, list(range(seeds)), splits, config, group=config.group, out_dir=out,
                                 baseline=baseline, on_model=on_model)
    except ValueError as err:
        raise UsageError(str(err)) from None
    print()
    print(format_table(results))
    print()
    print("\n".join(verdict_lines(results)))
    print(f"\nresults: {Path(out) / 'results.md'}  {Path(out) / 'results.json'}")
    print("figures: " + "  ".join(str(p) for p in _write_figures(results, Path(out))))
    return results


def _write_figures(results: dict, out: Path) -> list[Path]:
    """Recall@K curves, training-loss curves and metric bars of a comparison, as PNGs in ``out``."""
    from crossclr_lab.plotting import plot_loss_curves, plot_metric_bars, plot_recall_curves, save_figure

    step_losses = {name: [r["step_losses"] for r in v["runs"]] for name, v in results["variants"].items()}
    loss_title = f"{results['dataset']}: training loss (each loss on its own scale)"
    return [save_figure(plot_recall_curves(results), out / "recall_curves.png"),
            save_figure(plot_loss_curves(step_losses, title=loss_title), out / "loss_curves.png"),
            save_figure(plot_metric_bars(results), out / "metrics.png")]


def _run_variants_from_args(args, variants, baseline: str, title: str) -> dict:
    splits, eval_split = _load_splits(args)
    config = _train_config(args, group=_group(args, splits[2]), progress=False)
    return _run_variants(variants, baseline, args.seeds, splits, eval_split, config, args.out, title)


def run_compare(args) -> int:
    from crossclr_lab.compare import Variant

    if args.ablation:
        args.queue_sizes = []
        return run_ablate(args)
    losses = list(dict.fromkeys(args.losses))
    baseline = args.baseline or ("infonce" if "infonce" in losses else losses[0])
    if baseline not in losses:
        raise UsageError(f"--baseline {baseline!r} is not among --losses {' '.join(losses)}")
    variants = [Variant(name, name, _loss_kwargs(args, name, strict=False)) for name in losses]
    _run_variants_from_args(args, variants, baseline, title="comparison")
    return 0


def run_ablate(args) -> int:
    from crossclr_lab.compare import ablation_variants

    crossclr_kwargs = _loss_kwargs(args, "crossclr", strict=True)
    if any(q < 0 for q in args.queue_sizes):
        raise UsageError(f"--queue-sizes must be >= 0, got {args.queue_sizes}")
    variants = ablation_variants(crossclr_kwargs, tuple(args.queue_sizes))
    _run_variants_from_args(args, variants, variants[0].name, title="CrossCLR ablation")
    return 0


# -- demo ------------------------------------------------------------------------------------------------------
def add_demo(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="runs/demo", help="output folder (default: %(default)s)")
    p.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1, all reported (default: %(default)s)")
    p.add_argument("--epochs", type=int, default=30, help="epochs per run (default: %(default)s; the paper: 40)")
    p.add_argument("--map-points", type=int, default=300,
                   help="test pairs (whole concepts) on the UMAP map of seed 0's models; 0: no map "
                        "(default: %(default)s)")
    _add_threads_arg(p, default=1)


def _write_map(models: dict, test, max_points: int, out: Path) -> Path:
    """UMAP map of each model's joint space on a sample of whole test concepts, as in notebook 04."""
    from crossclr_lab.maps import joint_umap, plot_joint_maps, sample_concepts
    from crossclr_lab.plotting import save_figure
    from crossclr_lab.train import embed

    subset = test.subset(sample_concepts(test.groups["concept"], max_points, seed=0))
    maps = {name: joint_umap(*embed(model, subset), random_state=0) for name, model in models.items()}
    return save_figure(plot_joint_maps(maps, subset), out / "umap_map.png")


def run_demo(args) -> int:
    """CrossCLR vs InfoNCE on Emoji Motion (concept split), a few seeds, table + figures."""
    from crossclr_lab.compare import Variant, default_group
    from crossclr_lab.data import load_dataset
    from crossclr_lab.losses import build_loss
    from crossclr_lab.train import TrainConfig

    start = time.perf_counter()
    try:
        splits = tuple(load_dataset("emoji_motion", s, split_kind="concept") for s in ("train", "val", "test"))
    except (FileNotFoundError, ValueError) as err:
        raise UsageError(f"cannot load the shipped Emoji Motion data: {err}") from None
    try:
        config = TrainConfig(epochs=args.epochs, group=default_group(splits[2]), progress=False)
    except ValueError as err:
        raise UsageError(str(err)) from None
    variants = [Variant("crossclr", "crossclr"), Variant("infonce", "infonce")]
    print("demo: emoji_motion, concept split (test concepts never seen in training)\n  losses (the paper's defaults): "
          + "; ".join(repr(build_loss(v.loss)) for v in variants)
          + f"\n  optimiser (the paper's): {config.optimizer}, lr {config.lr}, batch {config.batch_size}, "
          f"{config.warmup_epochs:g} warm-up epochs, lr x{config.plateau_factor} on a val plateau; "
          f"{args.seeds} seeds × {config.epochs} epochs; model selected on val (rsum), reported on test.")
    seed0_models = {}
    _run_variants(variants, "infonce", args.seeds, splits, "test", config, args.out, title="demo",
                  on_model=lambda name, seed, model: seed0_models.setdefault(name, model) if seed == 0 else None)
    if args.map_points > 0:
        print(f"map: {_write_map(seed0_models, splits[2], args.map_points, Path(args.out))}")
    print(f"demo finished in {time.perf_counter() - start:.0f} s")
    return 0


# -- notebooks -------------------------------------------------------------------------------------------------
def add_notebooks(p: argparse.ArgumentParser) -> None:
    p.add_argument("notebook_args", nargs=argparse.REMAINDER, metavar="run|sync|check ...",
                   help="arguments of `python -m crossclr_lab.notebooks`, e.g. `run --out runs/notebooks`")


def run_notebooks(args) -> int:
    """Run, sync or check the notebook series (see crossclr_lab.notebooks)."""
    from crossclr_lab import notebooks

    return notebooks.main(args.notebook_args or ["--help"])


# name -> (help, add_arguments, run)
COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {
    "demo": ("CrossCLR vs InfoNCE on Emoji Motion: table, verdict and figures (the README's first command)",
             add_demo, run_demo),
    "train": ("train one model and evaluate it", add_train, run_train),
    "compare": ("train several losses over several seeds; table of mean ± std and paired differences",
                add_compare, run_compare),
    "ablate": ("CrossCLR component ablation (intra, pruning, weighting, queue) in the compare table format",
               add_ablate, run_ablate),
    "notebooks": ("execute the notebook series headlessly (papermill) or keep the .ipynb/.py twins in sync",
                  add_notebooks, run_notebooks),
}


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="crossclr-lab", description="Learn, explore and reproduce CrossCLR "
                                     "(cross-modal contrastive learning for video and text).")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_text, add_arguments, run) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        add_arguments(p)
        p.set_defaults(run=run, parser=p)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command != "train" and "LOCAL_RANK" in os.environ and int(os.environ.get("WORLD_SIZE", "1")) > 1:
            raise UsageError(f"only `train` runs distributed; start `{args.command}` without torchrun "
                             "(several processes would each run it and overwrite each other's files)")
        if getattr(args, "threads", None) is not None:
            if args.threads < 1:
                raise UsageError(f"--threads must be >= 1, got {args.threads}")
            import torch

            torch.set_num_threads(args.threads)
        return args.run(args)
    except UsageError as err:
        args.parser.error(str(err))  # one line "crossclr-lab CMD: error: ...", exit code 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
