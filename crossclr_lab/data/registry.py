"""One entry point for every dataset: ``load_dataset(name, split, data_root, **settings)``.

Each dataset module defines its :class:`~crossclr_lab.data.spec.DatasetSpec` as ``DATASET``; :data:`MODULES`
lists them. Usage::

    data = load_dataset("synthetic", split="val", n_concepts=10)
    data = load_dataset("youcook2", split="val", data_root="/data/youcook2")
    data = load_dataset("folder", split="train", data_root="my_features")   # docs/dataset-format.md
    sorted(DATASETS)   # ['emoji_motion', 'folder', 'synthetic', 'youcook2']
"""

from __future__ import annotations

import importlib
import os

from .paired import PairedFeatures
from .provenance import source
from .spec import EVAL_SPLITS, DatasetSpec

MODULES = ("emoji_motion", "youcook2", "synthetic", "folder")
DATASETS: dict[str, DatasetSpec] = {spec.name: spec for spec in
                                    (importlib.import_module(f"{__package__}.{m}").DATASET for m in MODULES)}


def dataset_spec(name: str) -> DatasetSpec:
    """The :class:`DatasetSpec` of dataset ``name``; ``ValueError`` listing the choices otherwise."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(sorted(DATASETS))}")
    return DATASETS[name]


def dataset_splits(name: str, data_root: str | os.PathLike | None = None) -> tuple[str, ...]:
    """The splits of dataset ``name`` (read from the card for ``"folder"``)."""
    spec = dataset_spec(name)
    _check_root(spec, data_root)
    return spec.splits(data_root)


def _check_root(spec: DatasetSpec, data_root) -> None:
    if spec.root == "required" and data_root is None:
        raise ValueError(f"{spec.name} needs data_root={spec.root_hint}")
    if spec.root == "none" and data_root is not None:
        raise ValueError(f"{spec.name} data is generated, not read: drop data_root={data_root!r}")


def check_settings(spec: DatasetSpec, settings: dict) -> None:
    """``ValueError`` naming the settings ``spec``'s loader does not take, and the ones it does."""
    unknown = [k for k in settings if k not in spec.settings]
    if unknown:
        raise ValueError(f"dataset {spec.name!r} takes no setting {', '.join(map(repr, unknown))}; it accepts: "
                         f"{', '.join(spec.settings)}")


def load_dataset(name: str, split: str = "train", data_root: str | os.PathLike | None = None,
                 **settings) -> PairedFeatures:
    """Split ``split`` of dataset ``name``; ``settings`` go to its loader (others are refused).

    - ``"emoji_motion"``: ``load_emoji_motion`` (e.g. ``split_kind``, ``video_features``); ``data_root=None`` uses
      the repository's ``data/emoji_motion`` (or ``$CROSSCLR_DATA_DIR/emoji_motion``).
    - ``"youcook2"``: ``load_youcook2``; ``data_root`` is required; splits ``train`` and ``val`` (there is no
      public test split; the paper evaluates on val).
    - ``"synthetic"``: ``make_synthetic``: train/val/test share the concepts and differ in the drawn pairs; no
      ``data_root``.
    - ``"folder"``: ``load_folder`` (e.g. ``video_view``, ``text_view``): your own features in the format of
      ``docs/dataset-format.md``; its card names the splits.

    The result's ``source`` records the dataset, split, data root and settings (defaults filled in).
    """
    spec = dataset_spec(name)
    check_settings(spec, settings)
    splits = dataset_splits(name, data_root)
    if split not in splits:
        raise ValueError(f"dataset {name!r} has splits {', '.join(splits)}; got split={split!r}{spec.split_hint}")
    features = spec.load(split, data_root, **settings)
    features.source = source(spec, split, data_root, settings)
    return features


def load_splits(name: str, splits: tuple[str, ...] = EVAL_SPLITS,
                data_root: str | os.PathLike | None = None, **settings) -> tuple[PairedFeatures, ...]:
    """Several splits of one dataset at once, e.g. ``train, val, test = load_splits("emoji_motion")``."""
    return tuple(load_dataset(name, split, data_root, **settings) for split in splits)
