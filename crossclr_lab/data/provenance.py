"""Where a dataset came from, for run records and resume checks.

:func:`~crossclr_lab.data.registry.load_dataset` stores the source of what it loads in ``PairedFeatures.source``
(dataset, split, data root, every loader setting with its default filled in, e.g. ``split_kind``,
``video_features``, ``text_features``; for a folder with a ``MANIFEST.sha256``, the sha256 of that manifest).
:func:`describe` adds the size, feature shapes and a fingerprint of the items themselves, so two loads that differ
in any item, feature or pairing never look alike, whatever produced them.

Example::

    train = load_dataset("emoji_motion", "train", split_kind="random")
    describe(train)   # {"dataset": "emoji_motion", "split": "train", "split_kind": "random", ..., "fingerprint": ...}
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import inspect
import os
from pathlib import Path

import numpy as np

from ..files import MANIFEST, sha256_file
from .paired import PairedFeatures

# dataset name -> its loader (module:function), whose signature gives the defaults of settings not passed
LOADERS = {"emoji_motion": "crossclr_lab.data.emoji_motion:load_emoji_motion",
           "youcook2": "crossclr_lab.data.youcook2:load_youcook2",
           "synthetic": "crossclr_lab.data.synthetic:make_synthetic"}
NOT_RECORDED = {"split", "root", "data_root", "verify", "cache_dir"}   # recorded otherwise, or no effect on data


def _default_root(name: str) -> Path | None:
    if name == "emoji_motion":
        from .emoji_motion import default_root

        return default_root()
    return None


def _loader_defaults(name: str) -> dict:
    if name not in LOADERS:
        return {}
    module, function = LOADERS[name].split(":")
    params = inspect.signature(getattr(importlib.import_module(module), function)).parameters
    return {k: p.default for k, p in params.items()
            if p.default is not inspect.Parameter.empty and k not in NOT_RECORDED}


def source(name: str, split: str, data_root: str | os.PathLike | None, settings: dict) -> dict:
    """The source of split ``split`` of dataset ``name`` loaded with ``settings``: dataset, split, resolved data
    root, the loader's settings (defaults filled in) and, when the root has one, the sha256 of its manifest."""
    root = Path(data_root) if data_root is not None else _default_root(name)
    out = {"dataset": name, "split": split, "data_root": None if root is None else str(root.resolve())}
    out.update({k: v for k, v in {**_loader_defaults(name), **settings}.items() if k not in NOT_RECORDED})
    if root is not None and (root / MANIFEST).is_file():
        out["manifest_sha256"] = sha256_file(root / MANIFEST)
    return {k: (v if v is None or isinstance(v, (bool, int, float, str)) else repr(v)) for k, v in out.items()}


def with_source(load):
    """Decorator for ``load_dataset(name, split, data_root, **settings)``: sets the result's ``source``."""

    @functools.wraps(load)
    def wrapper(name: str, split: str = "train", data_root: str | os.PathLike | None = None, **settings):
        features = load(name, split, data_root, **settings)
        features.source = source(name, split, data_root, settings)
        return features

    return wrapper


def fingerprint(features: PairedFeatures | None) -> str:
    """sha256 (16 hex digits) of a dataset's items: name, size, ids and every feature tensor (shape, dtype, bytes);
    ``"none"`` for ``None``. The one dataset fingerprint: records, resume checks and the model cache's key use it."""
    if features is None:
        return "none"
    digest = hashlib.sha256(f"{features.name}\n{len(features)}\n".encode())
    digest.update("\n".join(features.ids).encode())
    for tensor in (features.video, features.video_lengths, features.text, features.text_lengths):
        if tensor is not None:
            t = tensor.detach().cpu().contiguous()
            digest.update(str((tuple(t.shape), t.dtype)).encode())
            digest.update(t.numpy().reshape(-1).view(np.uint8))  # the bytes, without copying them
    return digest.hexdigest()[:16]


def describe(features: PairedFeatures) -> dict:
    """The provenance of ``features`` for a record: ``source`` (or at least the dataset name), the number of
    pairs, the feature shapes and the :func:`fingerprint`."""
    return {"dataset": features.name, **features.source, "n": len(features),
            "video_shape": list(features.video.shape[1:]), "text_shape": list(features.text.shape[1:]),
            "fingerprint": fingerprint(features)}
