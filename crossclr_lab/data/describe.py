"""Print what a dataset holds: items per split, feature shapes, group sizes and (if any) its data card.

    python -m crossclr_lab.data.describe synthetic
    python -m crossclr_lab.data.describe emoji_motion
    python -m crossclr_lab.data.describe youcook2 --data-root /data/youcook2 --split val
    python -m crossclr_lab.data.describe synthetic --set n_concepts=5 --set noise=1.0

``--set KEY=VALUE`` passes a loader argument (VALUE read as a Python literal, else as a string).
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import Counter
from pathlib import Path

from .paired import PairedFeatures
from .registry import DATASETS, SPLITS, load_dataset


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


def data_card(name: str, data_root: str | None) -> list[str]:
    """The dataset's README (emoji_motion only), or a line saying where it was looked for."""
    if name != "emoji_motion":
        return []
    from .emoji_motion import default_root

    card = (Path(data_root) if data_root is not None else default_root()) / "README.md"
    if not card.is_file():
        return [f"(no data card found at {card})"]
    return ["data card:", *card.read_text(encoding="utf-8").rstrip().splitlines()]


def weight_share_lines(name: str, data_root: str | None = None, batch_size: int = 64, **kwargs) -> list[str]:
    """emoji_motion only: CrossCLR's largest weight share per train batch for each video expert and the text."""
    if name != "emoji_motion":
        return []
    from crossclr_lab.weight_share import weight_share_stats

    from .emoji_motion import DEFAULT_VIDEO_FEATURES, VIDEO_FEATURES

    kwargs = {k: v for k, v in kwargs.items() if k != "video_features"}
    lines = [(f"CrossCLR connectivity weighting (κ = 3.5e-3): largest weight share max_i w_i / Σ w per random "
              f"train batch of {batch_size}, median (p10-p90); uniform weights give {1 / batch_size:.3f}, one "
              "sample carrying the batch gives 1:")]
    sets = list(dict.fromkeys([*((n,) for n in VIDEO_FEATURES), DEFAULT_VIDEO_FEATURES]))
    features = []
    for experts in sets:
        train = load_dataset(name, split="train", data_root=data_root, video_features=list(experts), **kwargs)
        default = " (default)" if experts == DEFAULT_VIDEO_FEATURES else ""
        features.append((f"video {'+'.join(experts)}{default}", train.video_pooled))
    features.append(("text", train.text_pooled))
    if len(train) < batch_size:
        return lines + [f"  (skipped: train holds {len(train)} pairs, fewer than a batch)"]
    for label, feat in features:
        st = weight_share_stats(feat, batch_size=batch_size)
        rest = (f" (median of the others: {st['median_weighted']:.3f})"
                if 0 < st["fallback_fraction"] < 1 else "")
        lines.append(f"  {label}: {st['median']:.3f} ({st['p10']:.3f}-{st['p90']:.3f}); Σ C <= 0 (uniform "
                     f"fallback) in {100 * st['fallback_fraction']:.1f} % of {st['batches']} batches{rest}")
    return lines


def describe(name: str, data_root: str | None = None, splits: list[str] | None = None, **kwargs) -> str:
    """The full report for dataset ``name`` (each split unless ``splits`` is given; "all" only on request)."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(sorted(DATASETS))}")
    lines = [f"dataset {name}: {DATASETS[name]}"]
    for split in splits or [s for s in SPLITS[name] if s != "all"]:
        lines.append(f"split {split}:")
        lines += summarize(load_dataset(name, split=split, data_root=data_root, **kwargs))
    lines += weight_share_lines(name, data_root, **kwargs)
    lines += data_card(name, data_root)
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
    parser = _OneLineParser(prog="python -m crossclr_lab.data.describe",
                            description="Describe a dataset: splits, shapes, group sizes, data card.")
    parser.add_argument("name", choices=sorted(DATASETS), help="dataset name")
    parser.add_argument("--data-root", default=None, help="data folder (required for youcook2)")
    parser.add_argument("--split", action="append", default=None, help="only this split (repeatable)")
    parser.add_argument("--set", action="append", default=[], type=_parse_setting, metavar="KEY=VALUE",
                        help="extra loader argument, e.g. --set noise=1.0 (repeatable)")
    args = parser.parse_args(argv)
    try:
        report = describe(args.name, args.data_root, args.split, **dict(args.set))
    except (ValueError, TypeError, FileNotFoundError) as err:
        parser.error(str(err).splitlines()[0])
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
