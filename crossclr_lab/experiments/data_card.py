"""Print what a dataset holds: items per split, feature shapes, group sizes, CrossCLR's connectivity weight share
on its train split (does the paper's κ suit these features?) and (if any) its data card.

    python -m crossclr_lab.experiments.data_card synthetic
    python -m crossclr_lab.experiments.data_card emoji_motion
    python -m crossclr_lab.experiments.data_card youcook2 --data-root /data/youcook2 --split val
    python -m crossclr_lab.experiments.data_card folder --data-root my_features      # docs/dataset-format.md
    python -m crossclr_lab.experiments.data_card synthetic --set n_concepts=5 --set noise=1.0

``--set KEY=VALUE`` passes a loader argument (VALUE read as a Python literal, else as a string).
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import Counter

import torch
from torch import Tensor

from crossclr_lab.data.paired import PairedFeatures
from crossclr_lab.data.registry import DATASETS, dataset_spec, dataset_splits, load_dataset


def summarize(data: PairedFeatures) -> list[str]:
    """Lines describing one split: size, shapes, frame/token lengths and each group's label counts."""
    lengths = data.video_lengths.float()
    lines = [
        f"  items: {len(data)}",
        f"  video: {list(data.video.shape)} (valid frames {int(lengths.min())}..{int(lengths.max())}, "
        f"mean {lengths.mean():.1f}); pooled {list(data.video_pooled.shape)}",
        f"  text:  {list(data.text.shape)}"
        + (f" (valid tokens {int(data.text_lengths.min())}..{int(data.text_lengths.max())})"
           if data.text_lengths is not None else "") + f"; pooled {list(data.text_pooled.shape)}",
    ]
    for group, labels in data.groups.items():
        counts = Counter(labels)
        sizes = sorted(counts.values())
        top = ", ".join(f"{label}: {n}" for label, n in counts.most_common(8))
        more = f", ... ({len(counts) - 8} more)" if len(counts) > 8 else ""
        lines.append(f"  group {group!r}: {len(counts)} labels, {sizes[0]}..{sizes[-1]} items per label "
                     f"(median {sizes[len(sizes) // 2]}); largest: {top}{more}")
    if data.captions:
        lines.append(f"  example caption: {data.captions[0]!r}")
    return lines


def weight_share_lines(pooled: dict[str, Tensor], weight_temperature: float | None = None,
                       batch_size: int = 64, prune_threshold: float | None = None) -> list[str]:
    """CrossCLR's largest connectivity-weight share and pruned share in random train batches, per modality (or
    view) of ``pooled`` (name -> ``[N, D]`` pooled input features) at κ = ``weight_temperature`` and γ =
    ``prune_threshold`` (defaults: the paper's): the median and p10-p90 of the weight share over batches, how
    often ``Σ C <= 0`` made the loss fall back to uniform weights, the median share of a batch pruning removes,
    and a warning when γ prunes more than half of a typical batch (see :func:`.weight_share.weight_share_stats`)."""
    from crossclr_lab.losses.weight_share import PAPER_GAMMA, PAPER_KAPPA, weight_share_stats

    kappa = PAPER_KAPPA if weight_temperature is None else weight_temperature
    gamma = PAPER_GAMMA if prune_threshold is None else prune_threshold
    b = min(batch_size, *(len(f) for f in pooled.values()))
    which = "the paper's κ" if kappa == PAPER_KAPPA else "κ"
    lines = [f"connectivity weight share (train; largest w_i / Σ w of CrossCLR's weights at {which} = "
             f"{kappa:g}, median (p10-p90) over random batches of {b}; uniform = 1/{b} = {1 / b:.3f}, "
             "1 = one sample carries the batch) and pruned share (samples with C_i / max C > "
             f"γ = {gamma:g}, left out of the negatives; median over batches):"]
    width = max(map(len, pooled))
    for name, feat in pooled.items():
        st = weight_share_stats(feat, batch_size=b, weight_temperature=kappa, prune_threshold=gamma)
        share = st["median"]
        fallback = (f"; Σ C <= 0 (uniform fallback) in {100 * st['fallback_fraction']:.0f} % of {st['batches']} "
                    f"batches, median of the others {st['median_weighted']:.3f}"
                    if 0 < st["fallback_fraction"] < 1 else "")
        advice = "  <- above 0.1: try a larger --weight-temperature, or none" if share > 0.1 else ""
        lines.append(f"  {name:<{width}}  {share:.3f} ({st['p10']:.3f}-{st['p90']:.3f}; {share * b:.1f}x uniform)"
                     f"{fallback}; pruned {100 * st['pruned_median']:.1f} % of a batch{advice}")
        if st["pruned_median"] > 0.5:
            lines.append(f"  {'':<{width}}  <- γ prunes most of a batch ({100 * st['pruned_most']:.0f} % of batches "
                         "lose more than half): the connectivities are nearly equal, so CrossCLR keeps few "
                         "negatives (loss 0 when all are pruned); try a larger --prune-threshold, or none")
    return lines


def describe(name: str, data_root: str | None = None, splits: list[str] | None = None,
             weight_temperature: float | None = None, **kwargs) -> str:
    """The full report for dataset ``name`` (each split unless ``splits`` is given; "all" only on request); the
    weight share (at κ = ``weight_temperature``, default the paper's) when the train split is described."""
    spec = dataset_spec(name)
    lines = [f"dataset {name}: {spec.description}"]
    train = None
    for split in splits or [s for s in dataset_splits(name, data_root) if s != "all"]:
        lines.append(f"split {split}:")
        data = load_dataset(name, split=split, data_root=data_root, **kwargs)
        lines += summarize(data)
        train = data if split == "train" else train
    if train is not None:   # every view the dataset has (its hook), not only the pair loaded
        pooled = (spec.views(data_root, **kwargs) if spec.views is not None
                  else {"video": train.video_pooled, "text": train.text_pooled})
        lines += weight_share_lines(pooled, weight_temperature)
    lines += spec.card(data_root) if spec.card is not None else []
    return "\n".join(lines)


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _parse_setting(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key, value


def main(argv: list[str] | None = None) -> int:
    parser = _OneLineParser(prog="python -m crossclr_lab.experiments.data_card",
                            description="Describe a dataset: splits, shapes, group sizes, CrossCLR's connectivity "
                                        "weight share, data card.")
    parser.add_argument("name", choices=sorted(DATASETS), help="dataset name")
    parser.add_argument("--data-root", default=None, help="data folder (required for youcook2 and folder)")
    parser.add_argument("--split", action="append", default=None, help="only this split (repeatable)")
    parser.add_argument("--set", action="append", default=[], type=_parse_setting, metavar="KEY=VALUE",
                        help="extra loader argument, e.g. --set noise=1.0 (repeatable)")
    parser.add_argument("--weight-temperature", type=float, default=None, metavar="KAPPA",
                        help="κ for the weight share (default: the paper's 3.5e-3)")
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads for torch (default: %(default)s, fastest for the small weight-share batches)")
    args = parser.parse_args(argv)
    if args.threads < 1 or (args.weight_temperature is not None and not args.weight_temperature > 0):
        parser.error(f"--threads must be >= 1 and --weight-temperature > 0, got {args.threads} and "
                     f"{args.weight_temperature}")
    torch.set_num_threads(args.threads)
    try:
        report = describe(args.name, args.data_root, args.split, args.weight_temperature, **dict(args.set))
    except (ValueError, TypeError, FileNotFoundError) as err:
        parser.error(str(err).splitlines()[0])
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
