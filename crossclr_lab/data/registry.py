"""One entry point for every dataset: ``load_dataset(name, split, data_root, **kwargs)``.

Usage::

    data = load_dataset("synthetic", split="val", n_concepts=10)
    data = load_dataset("youcook2", split="val", data_root="/data/youcook2")
    data = load_dataset("folder", split="train", data_root="my_features")   # docs/dataset-format.md
    sorted(DATASETS)   # ['emoji_motion', 'folder', 'synthetic', 'youcook2']
"""

from __future__ import annotations

import os

from . import emoji_motion, synthetic, youcook2
from .paired import PairedFeatures
from .provenance import with_source

DATASETS: dict[str, str] = {
    "emoji_motion": "animated Fluent Emoji clips paired with their CLDR names (features in data/emoji_motion)",
    "youcook2": "YouCook2 clips with COOT's HowTo100M S3D features, as in the paper (needs data_root)",
    "synthetic": "generated pairs with known false negatives (pairs that share a latent concept)",
    "folder": "your own features in the folder format of docs/dataset-format.md (needs data_root)",
}

SPLITS: dict[str, tuple[str, ...]] = {   # each loader module's own list
    "emoji_motion": emoji_motion.SPLITS,
    # YouCook2's test sentences are not public; the paper and COOT report results on val.
    "youcook2": youcook2.SPLITS,
    # Same concepts and modality maps in every split, independently drawn pairs (see make_synthetic).
    "synthetic": synthetic.SPLITS,
    # "folder": its dataset.json card names the splits (see dataset_splits)
}


def dataset_splits(name: str, data_root: str | os.PathLike | None = None) -> tuple[str, ...]:
    """The splits of dataset ``name``: fixed per dataset, read from the card for ``"folder"``."""
    if name == "folder":
        from .folder import folder_splits

        return folder_splits(_folder_root(data_root))
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(sorted(DATASETS))}")
    return SPLITS[name]


def _folder_root(data_root):
    if data_root is None:
        raise ValueError("folder needs data_root=<folder with a dataset.json card> (format: docs/dataset-format.md)")
    return data_root


@with_source  # sets the result's .source (dataset, split, root, settings) for records and resume checks
def load_dataset(name: str, split: str = "train", data_root: str | os.PathLike | None = None,
                 **kwargs) -> PairedFeatures:
    """Load split ``split`` of dataset ``name``; ``kwargs`` go to its loader.

    - ``"emoji_motion"`` -> ``load_emoji_motion(split, root=data_root, **kwargs)`` (e.g. ``split_kind``,
      ``include_static``); ``data_root=None`` uses its default folder (``data/emoji_motion`` of the
      repository, or ``$CROSSCLR_DATA_DIR/emoji_motion``).
    - ``"youcook2"`` -> ``load_youcook2(data_root, split, **kwargs)``; ``data_root`` is required and
      ``split`` is ``"train"`` or ``"val"`` (there is no public test split; the paper evaluates on val).
    - ``"synthetic"`` -> ``make_synthetic(split=split, **kwargs)``: train/val/test share the concepts
      and differ in the drawn pairs; it takes no ``data_root``.
    - ``"folder"`` -> ``load_folder(data_root, split, **kwargs)`` (e.g. ``video_view``, ``text_view``): your
      own features in the format of ``docs/dataset-format.md``; its card names the splits.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(sorted(DATASETS))}")
    if name == "folder":
        from .folder import load_folder

        return load_folder(_folder_root(data_root), split=split, **kwargs)
    if split not in SPLITS[name]:
        hint = " (YouCook2 has no public test split; the paper evaluates on 'val')" if name == "youcook2" else ""
        raise ValueError(f"dataset {name!r} has splits {', '.join(SPLITS[name])}; got split={split!r}{hint}")
    if name == "emoji_motion":
        from .emoji_motion import load_emoji_motion

        if data_root is not None:
            kwargs["root"] = data_root
        return load_emoji_motion(split=split, **kwargs)
    if name == "youcook2":
        if data_root is None:
            raise ValueError("youcook2 needs data_root=<folder with youcookii_annotations_trainval.json and "
                             "video_feat_100m.h5> (COOT's release; see crossclr_lab.data.youcook2)")
        from .youcook2 import load_youcook2

        return load_youcook2(data_root, split=split, **kwargs)
    if data_root is not None:
        raise ValueError(f"synthetic data is generated, not read: drop data_root={data_root!r}")
    from .synthetic import make_synthetic

    return make_synthetic(split=split, **kwargs)


def load_splits(name: str, splits: tuple[str, ...] = ("train", "val", "test"),
                data_root: str | os.PathLike | None = None, **kwargs) -> tuple[PairedFeatures, ...]:
    """Several splits of one dataset at once, e.g. ``train, val, test = load_splits("emoji_motion")``."""
    return tuple(load_dataset(name, split, data_root, **kwargs) for split in splits)
