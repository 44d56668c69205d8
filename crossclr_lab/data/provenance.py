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

import hashlib
import inspect
import os
from pathlib import Path

import numpy as np

from ..files import MANIFEST, sha256_file
from .paired import PairedFeatures
from .spec import DatasetSpec

NOT_RECORDED = {"verify", "cache_dir"}   # settings with no effect on the data


def source(spec: DatasetSpec, split: str, data_root: str | os.PathLike | None, settings: dict) -> dict:
    """The source of split ``split`` of dataset ``spec`` loaded with ``settings``: dataset, split, resolved data
    root, the loader's settings (defaults filled in) and, when the root has one, the sha256 of its manifest."""
    root = Path(data_root) if data_root is not None else (spec.default_root() if spec.default_root else None)
    out = {"dataset": spec.name, "split": split, "data_root": None if root is None else str(root.resolve())}
    defaults = {k: v for k, v in spec.defaults.items() if v is not inspect.Parameter.empty}
    out.update({k: v for k, v in {**defaults, **settings}.items() if k not in NOT_RECORDED})
    if root is not None and (root / MANIFEST).is_file():
        out["manifest_sha256"] = sha256_file(root / MANIFEST)
    return {k: (v if v is None or isinstance(v, (bool, int, float, str)) else repr(v)) for k, v in out.items()}


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


NOT_COMPARED = ("data_root",)   # the data's folder may move; its content may not


def input_mismatch(recorded: dict, features: PairedFeatures) -> str | None:
    """How ``features`` differ from the inputs a run recorded (its :func:`describe` of them): the first field
    that differs (dataset, loader settings such as the feature names in their order, feature widths, size,
    fingerprint), as ``"<field> <recorded> there, <given> here"``; ``None`` when they are the same."""
    given = describe(features)
    for key in sorted(set(recorded) | set(given), key=lambda k: (k == "fingerprint", k)):
        if key not in NOT_COMPARED and recorded.get(key) != given.get(key):
            return f"{key} {recorded.get(key)!r} there, {given.get(key)!r} here"
    return None


def describe(features: PairedFeatures) -> dict:
    """The provenance of ``features`` for a record: ``source`` (or at least the dataset name), the number of
    pairs, the feature shapes and the :func:`fingerprint`."""
    return {"dataset": features.name, **features.source, "n": len(features),
            "video_shape": list(features.video.shape[1:]), "text_shape": list(features.text.shape[1:]),
            "fingerprint": fingerprint(features)}
