"""Bring your own features: paired features as a folder of ``.npy`` arrays described by a ``dataset.json`` card.

The format (``docs/dataset-format.md`` documents it, with an example to copy)::

    my_dataset/
      dataset.json          the card: name, description, licence, views, default pair, groups, split sizes
      MANIFEST.sha256       optional: "<sha256>  <path>" per file, checked when present (export_folder writes it)
      train/
        items.json          {"ids": [N str], "captions": [N str], "groups": {"recipe": [N labels]}}
        video.npy           a "sequence" view: [N, T, D] float, zero past each item's length
        video_lengths.npy   [N] int, valid steps 1..T of video.npy
        text.npy            a "pooled" view: [N, D] float
      val/ ...

Any number of named views per item; the card names the default ``video_view`` and ``text_view``, and any other
pair can be loaded instead. Every file is validated once per process (and again when a file changes); arrays
are memory-mapped, never read whole at once.

Usage::

    train = load_folder("my_dataset", "train")            # PairedFeatures of the card's video_view/text_view
    pair = load_folder("my_dataset", "train", video_view="motion", text_view="appearance")
    export_folder({"train": train, "val": val}, "out/my_copy", licence="CC BY 4.0")
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..files import MANIFEST, plain_name, verify_manifest, write_manifest
from .paired import PairedFeatures, masked_mean
from .spec import DatasetSpec

FORMAT_VERSION = 1
CARD = "dataset.json"
ITEMS = "items.json"
LAYOUTS = {"pooled": 2, "sequence": 3}  # layout -> dims of its array: [N, D] or [N, T, D]
DOCS = "docs/dataset-format.md"
_REQUIRED = ("format_version", "name", "licence", "views", "video_view", "text_view", "splits")
_OPTIONAL = ("description", "groups", "info")
_VIEW_KEYS = ("layout", "dim", "description")
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")  # view and split names become file and folder names
_CHUNK_BYTES = 1 << 24  # arrays are checked in blocks of about 16 MB


@dataclass(frozen=True)
class View:
    """One view of a split: ``features [N, D]`` (pooled) or ``[N, T, D]`` (sequence, with ``lengths [N]``)."""

    features: Tensor
    lengths: Tensor | None

    def pooled(self) -> Tensor:
        """``[N, D]``: the features, or their mean over the valid steps of a sequence."""
        return self.features if self.lengths is None else masked_mean(self.features, self.lengths)


def _fail(path: Path, problem: str) -> ValueError:
    return ValueError(f"{path}: {problem} (format: {DOCS})")


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def read_card(root: str | os.PathLike) -> dict:
    """The validated ``dataset.json`` of ``root``, with the optional fields filled in
    (``description`` "", ``groups`` [], ``info`` {})."""
    root = Path(root)
    path = root / CARD
    if not path.is_file():
        where = f"{root} is not a folder" if not root.is_dir() else f"{root} has no {CARD}"
        raise FileNotFoundError(f"{where}: a folder dataset is a folder with a {CARD} card (format: {DOCS})")
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise _fail(path, f"not valid JSON ({err})") from None
    if not isinstance(card, dict):
        raise _fail(path, f"expected a JSON object, got {type(card).__name__}")
    missing = [k for k in _REQUIRED if k not in card]
    unknown = [k for k in card if k not in _REQUIRED + _OPTIONAL]
    if missing or unknown:
        raise _fail(path, f"missing keys {missing}, unknown keys {unknown}; a card has {', '.join(_REQUIRED)} "
                          f"and optionally {', '.join(_OPTIONAL)}")
    if not _is_int(card["format_version"]) or card["format_version"] != FORMAT_VERSION:
        raise _fail(path, f"format_version {card['format_version']!r}; this crossclr_lab reads {FORMAT_VERSION}")
    for key in ("name", "licence"):
        if not isinstance(card[key], str) or not card[key].strip():
            raise _fail(path, f"{key!r} must be a non-empty string, got {card[key]!r}")
    try:
        plain_name(card["name"], "the dataset name")     # it names the model cache's folder of this dataset
    except ValueError as err:
        raise _fail(path, str(err)) from None
    card.setdefault("description", "")
    card.setdefault("groups", [])
    card.setdefault("info", {})
    if not isinstance(card["description"], str) or not isinstance(card["info"], dict):
        raise _fail(path, "'description' must be a string and 'info' an object")
    _check_views(path, card)
    groups = card["groups"]
    if (not isinstance(groups, list) or not all(isinstance(g, str) and g for g in groups)
            or len(set(groups)) != len(groups)):
        raise _fail(path, f"'groups' must be a list of distinct non-empty names, got {groups!r}")
    splits = card["splits"]
    if not isinstance(splits, dict) or not splits:
        raise _fail(path, f"'splits' must map each split name to its number of items, got {splits!r}")
    for split, n in splits.items():
        if not _FILE_NAME.fullmatch(split):
            raise _fail(path, f"split name {split!r} must be letters, digits, '_' or '-' (it names a folder)")
        if not _is_int(n) or n < 1:
            raise _fail(path, f"splits[{split!r}] must be the split's number of items (an int >= 1), got {n!r}")
    return card


def _check_views(path: Path, card: dict) -> None:
    views = card["views"]
    if not isinstance(views, dict) or not views:
        raise _fail(path, f"'views' must map each view name to {{'layout', 'dim'}}, got {views!r}")
    for name, spec in views.items():
        if not _FILE_NAME.fullmatch(name) or name.endswith("_lengths"):
            raise _fail(path, f"view name {name!r} must be letters, digits, '_' or '-' and not end in '_lengths' "
                              "(it names the view's files)")
        if not isinstance(spec, dict) or "layout" not in spec or "dim" not in spec or set(spec) - set(_VIEW_KEYS):
            raise _fail(path, f"views[{name!r}] must have 'layout' and 'dim' (and optionally 'description'), "
                              f"got {spec!r}")
        if spec["layout"] not in LAYOUTS:
            raise _fail(path, f"views[{name!r}]['layout'] must be one of {list(LAYOUTS)}, got {spec['layout']!r}")
        if not _is_int(spec["dim"]) or spec["dim"] < 1:
            raise _fail(path, f"views[{name!r}]['dim'] must be the feature size (an int >= 1), got {spec['dim']!r}")
    for key in ("video_view", "text_view"):
        if card[key] not in views:
            raise _fail(path, f"{key} {card[key]!r} is not one of the views {list(views)}")
    if card["video_view"] == card["text_view"]:
        raise _fail(path, f"video_view and text_view are both {card['video_view']!r}; name two different views")


def folder_splits(root: str | os.PathLike) -> tuple[str, ...]:
    """The split names of the folder dataset at ``root``, in the card's order."""
    return tuple(read_card(root)["splits"])


def _files(card: dict) -> list[str]:
    """Every file the card implies, as paths relative to the root (``/``-separated)."""
    files = [CARD]
    for split in card["splits"]:
        files.append(f"{split}/{ITEMS}")
        for name, spec in card["views"].items():
            files.append(f"{split}/{name}.npy")
            if spec["layout"] == "sequence":
                files.append(f"{split}/{name}_lengths.npy")
    return files


def check_folder(root: str | os.PathLike, verify: bool = True) -> dict:
    """Validate the whole folder dataset at ``root`` and return its card.

    Checks the card; each split's ``items.json`` (ids unique, captions, groups of the right length); no id in
    two splits; each view array against the card (layout, dim, item count), its lengths (1..T) and its values
    (finite, zero past the lengths); with ``verify``, the sha256 manifest when there is one. Raises
    ``FileNotFoundError`` for a missing file and ``ValueError`` naming the file and entry otherwise. The
    result is cached per process for the files' current sizes and modification times.
    """
    root = Path(root).resolve()
    card = read_card(root)
    stamp = []
    for rel in [*_files(card), MANIFEST]:
        path = root / rel
        stamp.append((rel, path.stat().st_size, path.stat().st_mtime_ns) if path.is_file() else (rel,))
    _check(root, verify, tuple(stamp))
    return card


@cache
def _check(root: Path, verify: bool, stamp: tuple) -> None:
    card = read_card(root)
    if verify and (root / MANIFEST).is_file():
        _check_manifest(root, _files(card))
    seen: dict[str, tuple[str, int]] = {}
    for split, n in card["splits"].items():
        items = _read_items(root, split, card)
        for i, item_id in enumerate(items["ids"]):
            if item_id in seen:
                other, j = seen[item_id]
                raise ValueError(f"{root}: id {item_id!r} is in split {other!r} ({other}/{ITEMS} entry {j}) and in "
                                 f"split {split!r} ({split}/{ITEMS} entry {i}); an item in two splits leaks "
                                 f"evaluation data into training: keep each id in one split")
            seen[item_id] = (split, i)
        for name, spec in card["views"].items():
            _check_view(root / split, name, spec, n, items["ids"])


def _check_manifest(root: Path, files: list[str]) -> None:
    verify_manifest(root, f"export the folder again, or delete {MANIFEST} after editing files by hand", files)


def _read_items(root: Path, split: str, card: dict) -> dict:
    path = root / split / ITEMS
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: each split folder needs its {ITEMS} (format: {DOCS})")
    try:
        items = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise _fail(path, f"not valid JSON ({err})") from None
    n = card["splits"][split]
    keys = {"ids", "captions", "groups"} if card["groups"] else {"ids", "captions"}
    if not isinstance(items, dict) or not keys <= set(items) or set(items) - {"ids", "captions", "groups"}:
        raise _fail(path, f"expected an object with keys {sorted(keys)}, got "
                          f"{sorted(items) if isinstance(items, dict) else type(items).__name__}")
    for key in ("ids", "captions"):
        if not isinstance(items[key], list) or len(items[key]) != n:
            got = len(items[key]) if isinstance(items[key], list) else type(items[key]).__name__
            raise _fail(path, f"{key!r} must list the split's {n} items (dataset.json splits[{split!r}]), got {got}")
    first: dict[str, int] = {}
    for i, (item_id, caption) in enumerate(zip(items["ids"], items["captions"], strict=True)):
        if not isinstance(item_id, str) or not item_id:
            raise _fail(path, f"ids entry {i} is {item_id!r}; ids are non-empty strings")
        if item_id in first:
            raise _fail(path, f"id {item_id!r} appears twice, at entries {first[item_id]} and {i}; ids must be unique")
        first[item_id] = i
        if not isinstance(caption, str):
            raise _fail(path, f"captions entry {i} (id {item_id!r}) is {caption!r}; captions are strings")
    groups = items.get("groups", {})
    if not isinstance(groups, dict) or set(groups) != set(card["groups"]):
        got = sorted(groups) if isinstance(groups, dict) else type(groups).__name__
        raise _fail(path, f"'groups' has {got}; dataset.json declares groups {card['groups']}")
    for group, labels in groups.items():
        if not isinstance(labels, list) or len(labels) != n:
            got = len(labels) if isinstance(labels, list) else type(labels).__name__
            raise _fail(path, f"groups[{group!r}] has {got} labels for the split's {n} items")
        for i, label in enumerate(labels):
            if not (isinstance(label, str) or _is_int(label)):
                raise _fail(path, f"groups[{group!r}] entry {i} (id {items['ids'][i]!r}) is {label!r}; "
                                  "labels are strings or integers")
    return items


def _open(path: Path) -> np.ndarray:
    """``path`` memory-mapped read-only."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the card's views need it (format: {DOCS})")
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise _fail(path, f"not a readable .npy array ({err}); write it with numpy.save") from None
    if not isinstance(arr, np.ndarray):
        arr.close()
        raise _fail(path, "an .npz archive saved under a .npy name; write one array per file with numpy.save")
    return arr


def _check_view(split_dir: Path, name: str, spec: dict, n: int, ids: list[str]) -> None:
    path = split_dir / f"{name}.npy"
    arr = _open(path)
    layout = spec["layout"]
    if arr.dtype.kind != "f" or arr.dtype.itemsize not in (2, 4, 8):
        raise _fail(path, f"dtype {arr.dtype}; view arrays are float16, float32 or float64")
    if arr.ndim != LAYOUTS[layout]:
        shape = "[N, T, D]" if layout == "sequence" else "[N, D]"
        raise _fail(path, f"shape {list(arr.shape)}, but dataset.json says view {name!r} is {layout!r}: {shape}")
    if arr.shape[0] != n:
        raise _fail(path, f"{arr.shape[0]} rows, but dataset.json says the split has {n} items")
    if arr.shape[-1] != spec["dim"]:
        raise _fail(path, f"feature size {arr.shape[-1]}, but dataset.json says views[{name!r}]['dim'] = {spec['dim']}")
    lengths = None
    if layout == "sequence":
        steps = arr.shape[1]
        lengths_path = split_dir / f"{name}_lengths.npy"
        lengths = np.asarray(_open(lengths_path))
        if lengths.dtype.kind not in "iu" or lengths.shape != (n,):
            raise _fail(lengths_path, f"dtype {lengths.dtype}, shape {list(lengths.shape)}; expected {n} integers "
                                      f"(valid steps of {name}.npy per item)")
        bad = np.flatnonzero((lengths < 1) | (lengths > steps))
        if bad.size:
            i = int(bad[0])
            raise _fail(lengths_path, f"entry {i} (id {ids[i]!r}) is {lengths[i]}; lengths are 1..{steps} "
                                      f"(T of {name}.npy)")
    rows = max(1, _CHUNK_BYTES // max(1, arr[:1].nbytes))
    for start in range(0, n, rows):
        block = np.asarray(arr[start:start + rows])
        finite = np.isfinite(block)
        if not finite.all():
            where = tuple(int(k) for k in np.argwhere(~finite)[0])
            i = start + where[0]
            count = sum(int(np.count_nonzero(~np.isfinite(np.asarray(arr[k:k + rows])))) for k in range(0, n, rows))
            raise _fail(path, f"item {i} (id {ids[i]!r}) has {block[where]} at index {[i, *where[1:]]} ({count} "
                              "non-finite value(s) in the array); features must be finite (no NaN or Inf)")
        if lengths is not None:
            past = np.arange(block.shape[1])[None, :] >= lengths[start:start + rows, None]
            nonzero = (block != 0).any(-1) & past
            if nonzero.any():
                row, step = (int(k) for k in np.argwhere(nonzero)[0])
                i = start + row
                raise _fail(path, f"item {i} (id {ids[i]!r}) has non-zero features at step {step}, past its length "
                                  f"{lengths[i]} in {name}_lengths.npy: pad with zeros, or fix the length")


def _load_array(path: Path) -> np.ndarray:
    """A float32 view of ``path``: memory-mapped copy-on-write (writable, shared with the page cache until written)
    when the file is float32 already, else converted."""
    arr = np.load(path, mmap_mode="c", allow_pickle=False)
    return arr if arr.dtype == np.float32 else arr.astype(np.float32)


def load_views(root: str | os.PathLike, split: str, views: list[str] | None = None,
               verify: bool = True) -> dict[str, View]:
    """The views ``views`` (default: all, in the card's order) of ``split``: name -> :class:`View` (float32
    features, ``lengths`` long for sequence views). Validates the folder first (see :func:`check_folder`)."""
    card = check_folder(root, verify)
    if split not in card["splits"]:
        raise ValueError(f"folder dataset {card['name']!r} at {root} has splits {', '.join(card['splits'])}; "
                         f"got split={split!r}")
    names = list(card["views"]) if views is None else list(views)
    unknown = [v for v in names if v not in card["views"]]
    if unknown:
        raise ValueError(f"folder dataset {card['name']!r} has no view {unknown[0]!r}; its views are "
                         f"{', '.join(card['views'])}")
    split_dir = Path(root) / split
    out = {}
    for name in names:
        lengths = None
        if card["views"][name]["layout"] == "sequence":
            lengths = torch.from_numpy(np.load(split_dir / f"{name}_lengths.npy").astype(np.int64))
        out[name] = View(torch.from_numpy(_load_array(split_dir / f"{name}.npy")), lengths)
    return out


def load_folder(root: str | os.PathLike, split: str = "train", video_view: str | None = None,
                text_view: str | None = None, verify: bool = True) -> PairedFeatures:
    """Split ``split`` of the folder dataset at ``root`` as :class:`PairedFeatures` named after the card.

    ``video_view``/``text_view`` (default: the card's) pick the two views to pair; a pooled video-side view
    becomes ``[N, 1, D]`` with lengths 1, a sequence text-side view gives token features with ``text_lengths``.
    """
    card = check_folder(root, verify)
    video_view = card["video_view"] if video_view is None else video_view
    text_view = card["text_view"] if text_view is None else text_view
    if video_view == text_view:
        raise ValueError(f"video_view and text_view are both {video_view!r}; pick two different views")
    views = load_views(root, split, [video_view, text_view], verify)
    video, text = views[video_view], views[text_view]
    if video.lengths is None:
        video = View(video.features[:, None, :], torch.ones(len(video.features), dtype=torch.long))
    items = json.loads((Path(root) / split / ITEMS).read_text(encoding="utf-8"))
    return PairedFeatures(video=video.features, video_lengths=video.lengths, text=text.features,
                          text_lengths=text.lengths, captions=items["captions"], ids=items["ids"],
                          groups={g: items["groups"][g] for g in card["groups"]}, name=card["name"])


# -- export ----------------------------------------------------------------------------------------------------
def _numpy(t: Tensor) -> np.ndarray:
    t = t.detach().cpu()
    return (t if t.dtype in (torch.float16, torch.float32, torch.float64) else t.float()).numpy()


def _check_exportable(features_by_split: Mapping[str, PairedFeatures]) -> None:
    if not features_by_split:
        raise ValueError("features_by_split is empty: pass {split name: PairedFeatures}")
    first_split, first = next(iter(features_by_split.items()))
    for split, f in features_by_split.items():
        if not isinstance(f, PairedFeatures):
            raise ValueError(f"split {split!r}: expected PairedFeatures, got {type(f).__name__}")
        for what, a, b in (("video feature size", f.video.shape[2], first.video.shape[2]),
                           ("text layout ([N, D] or [N, L, D])", f.text.dim(), first.text.dim()),
                           ("text feature size", f.text.shape[-1], first.text.shape[-1]),
                           ("groups", list(f.groups), list(first.groups))):
            if a != b:
                raise ValueError(f"split {split!r} has {what} {a}, split {first_split!r} {b}; every split of a "
                                 "folder dataset has the same views and groups")
        # The format stores frames and tokens; the pooled features are recomputed from them on load.
        expected = {"video_pooled": masked_mean(f.video.float(), f.video_lengths),
                    "text_pooled": f.text.float() if f.text.dim() == 2 else masked_mean(f.text.float(), f.text_lengths)}
        for key, value in expected.items():
            if not torch.allclose(getattr(f, key).float(), value, rtol=1e-5, atol=1e-6, equal_nan=True):
                raise ValueError(f"split {split!r}: {key} is not the mean of its frames/tokens over their lengths; "
                                 "the format stores frames and tokens only, so these pooled features would be lost")


def _extra_views(features_by_split: Mapping[str, PairedFeatures],
                 extra: Mapping[str, Mapping[str, View]]) -> Mapping[str, Mapping[str, View]]:
    """``extra`` checked: the same view names in every split, not ``video``/``text``, one row per item."""
    if not extra:
        return {}
    names = None
    for split, f in features_by_split.items():
        views = extra.get(split, {})
        if names is None:
            names = list(views)
        if list(views) != names or {"video", "text"} & set(views):
            raise ValueError(f"extra_views of split {split!r} are {list(views)}; every split needs the same "
                             f"extra views ({names}), none named 'video' or 'text'")
        for view_name, view in views.items():
            if len(view.features) != len(f):
                raise ValueError(f"extra view {view_name!r} of split {split!r} has {len(view.features)} rows for "
                                 f"{len(f)} items")
    return extra


def _write_split(split_dir: Path, f: PairedFeatures) -> None:
    split_dir.mkdir()
    items = {"ids": list(f.ids), "captions": list(f.captions)}
    if f.groups:
        items["groups"] = {g: [x.item() if hasattr(x, "item") else x for x in labels] for g, labels in f.groups.items()}
    (split_dir / ITEMS).write_text(json.dumps(items, ensure_ascii=False) + "\n", encoding="utf-8")
    np.save(split_dir / "video.npy", _numpy(f.video))
    np.save(split_dir / "video_lengths.npy", f.video_lengths.detach().cpu().to(torch.int64).numpy())
    np.save(split_dir / "text.npy", _numpy(f.text))
    if f.text.dim() == 3:
        np.save(split_dir / "text_lengths.npy", f.text_lengths.detach().cpu().to(torch.int64).numpy())


def export_folder(features_by_split: Mapping[str, PairedFeatures], root: str | os.PathLike, *, licence: str,
                  name: str | None = None, description: str = "", overwrite: bool = False,
                  extra_views: Mapping[str, Mapping[str, View]] | None = None,
                  view_descriptions: Mapping[str, str] | None = None, info: Mapping | None = None) -> Path:
    """Write ``{split: PairedFeatures}`` as a folder dataset at ``root``, atomically; returns ``root``.

    Views ``video`` (sequence: frames and lengths) and ``text`` (pooled, or a sequence for token features);
    ids, captions and groups in each ``items.json``; a sha256 ``MANIFEST.sha256``. The folder is written
    beside ``root``, validated with :func:`check_folder`, then renamed into place, so ``root`` is either the
    old folder or the complete new one. ``overwrite=True`` replaces an existing folder dataset (never another
    kind of folder). Loading it back gives the same tensors (float32 bit for bit; float16/float64 are read
    as float32). Thumbnails are not part of the format.

    ``extra_views``: ``{split: {view name: View}}``, further views written beside ``video`` and ``text`` (the
    same names in every split; a :class:`View` with ``lengths`` is a sequence view); ``view_descriptions``
    overrides the card's view descriptions; ``info`` is merged into the card's ``info``.
    """
    root = Path(root)
    if root.exists():
        if not overwrite:
            raise FileExistsError(f"{root} exists; pass overwrite=True to replace it")
        if not (root.is_dir() and ((root / CARD).is_file() or not any(root.iterdir()))):
            raise ValueError(f"refusing to replace {root}: it is not a folder dataset (no {CARD}) and not empty")
    _check_exportable(features_by_split)
    extra = _extra_views(features_by_split, extra_views or {})
    first = next(iter(features_by_split.values()))
    text_layout = "sequence" if first.text.dim() == 3 else "pooled"
    card = {
        "format_version": FORMAT_VERSION, "name": name or first.name, "description": description, "licence": licence,
        "views": {"video": {"layout": "sequence", "dim": first.video.shape[2], "description": "frame features"},
                  "text": {"layout": text_layout, "dim": first.text.shape[-1],
                           "description": "token features" if text_layout == "sequence" else "sentence features"}},
        "video_view": "video", "text_view": "text", "groups": list(first.groups),
        "splits": {split: len(f) for split, f in features_by_split.items()},
        "info": {"exported_by": "crossclr_lab.data.folder.export_folder", "source_name": first.name, **(info or {})},
    }
    for view_name, view in extra.get(next(iter(features_by_split)), {}).items():
        card["views"][view_name] = {"layout": "pooled" if view.lengths is None else "sequence",
                                    "dim": view.features.shape[-1], "description": ""}
    for view_name, text in (view_descriptions or {}).items():
        card["views"][view_name]["description"] = text
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = root.parent / f".{root.name}.{uuid.uuid4().hex[:8]}.tmp"
    tmp.mkdir()  # not tempfile.mkdtemp: its mode 0700 would outlive the rename
    try:
        (tmp / CARD).write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        for split, f in features_by_split.items():
            _write_split(tmp / split, f)
            for view_name, view in extra.get(split, {}).items():
                np.save(tmp / split / f"{view_name}.npy", _numpy(view.features))
                if view.lengths is not None:
                    np.save(tmp / split / f"{view_name}_lengths.npy", view.lengths.cpu().to(torch.int64).numpy())
        write_manifest(tmp, _files(read_card(tmp)))
        try:
            check_folder(tmp)
        except ValueError as err:
            raise ValueError(str(err).replace(str(tmp.resolve()), str(root))) from None
        _swap(tmp, root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return root


def _swap(new: Path, root: Path) -> None:
    """Rename ``new`` to ``root``, moving an existing ``root`` aside first and deleting it after."""
    if not root.exists():
        os.rename(new, root)
        return
    old = root.parent / f".{root.name}.{uuid.uuid4().hex[:8]}.old"
    os.rename(root, old)
    try:
        os.rename(new, root)
    except BaseException:
        os.rename(old, root)
        raise
    shutil.rmtree(old)


def card_lines(data_root) -> list[str]:
    """The card (``dataset.json``) of the folder dataset at ``data_root``, as lines for the data card."""
    card = read_card(data_root)
    views = ", ".join(f"{v} ({spec['layout']}, {spec['dim']}-d)" for v, spec in card["views"].items())
    return ["data card (dataset.json):", f"  name: {card['name']}", f"  licence: {card['licence']}",
            f"  description: {card['description'] or '(none)'}",
            f"  views: {views}; default pair: video_view {card['video_view']!r}, text_view {card['text_view']!r}",
            f"  groups: {', '.join(card['groups']) or '(none)'}"]


def pooled_views(data_root, **settings) -> dict[str, Tensor]:
    """Every view of the train split, pooled to ``[N, D]`` (not only the pair ``settings`` picks)."""
    return {view: v.pooled() for view, v in load_views(data_root, "train").items()}


DATASET = DatasetSpec(
    name="folder",
    description="your own features in the folder format of docs/dataset-format.md (needs data_root)",
    load=lambda split, data_root, **settings: load_folder(data_root, split, **settings),
    splits=folder_splits, loader=load_folder, root="required",
    root_hint=f"<folder with a {CARD} card> (format: {DOCS})", card=card_lines, views=pooled_views)
