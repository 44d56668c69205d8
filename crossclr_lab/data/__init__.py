"""Paired video–text datasets: the embedded Emoji Motion set, YouCook2 (COOT features), synthetic data, and
your own features in the folder format of docs/dataset-format.md.

Loaders are imported lazily so that ``import crossclr_lab.data`` stays cheap.
"""

from importlib import import_module

from .paired import PairedDataset, PairedFeatures, collate_paired, group_codes, masked_mean

_LAZY = {
    "load_emoji_motion": ".emoji_motion",
    "emoji_motion_metadata": ".emoji_motion",
    "load_youcook2": ".youcook2",
    "parse_annotations": ".youcook2",
    "summarize_annotations": ".youcook2",
    "make_synthetic": ".synthetic",
    "load_dataset": ".registry",
    "load_splits": ".registry",
    "dataset_splits": ".registry",
    "DATASETS": ".registry",
    "dataset_spec": ".registry",
    "DatasetSpec": ".spec",
    "load_folder": ".folder",
    "export_folder": ".folder",
}

__all__ = ["PairedFeatures", "PairedDataset", "collate_paired", "group_codes", "masked_mean", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
