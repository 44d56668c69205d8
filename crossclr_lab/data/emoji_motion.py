"""Emoji Motion: animated Fluent Emoji clips paired with their CLDR names, as shipped feature tensors.

The features live in ``data/emoji_motion`` (built by ``python -m tools.build_emoji_motion``;
its README.md is the data card)::

    from crossclr_lab.data.emoji_motion import load_emoji_motion
    train = load_emoji_motion("train", split_kind="concept")   # held-out concepts in "test"
    train.video.shape, train.text.shape                         # [N, 8, D], [N, 384]
    load_emoji_motion("train", video_features="handcrafted")    # another expert (VIDEO_FEATURES names them)
"""

from __future__ import annotations

import gzip
import json
import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from ..checks import check_bool, check_choice
from ..files import MANIFEST, read_manifest, repo_root, sha256_file
from .paired import PairedFeatures
from .spec import DatasetSpec

SPLITS = ("train", "val", "test", "all")
SPLIT_KINDS = ("concept", "random")
GROUPS = ("base", "concept", "subcategory", "category")
REBUILD = "python -m tools.build_emoji_motion --out data/emoji_motion"
_REQUIRED = ("features.npz", "metadata.json.gz")
NO_DATA = ("the Emoji Motion data is not installed with the package: clone the repository (it ships in data/), or "
           "set CROSSCLR_DATA_DIR to a folder holding emoji_motion/")

# Per-frame video experts (the builder's docstring and the data card say how each is computed).
VIDEO_FEATURES: dict[str, str] = {
    "appearance": "1280-d frozen ImageNet-pretrained EfficientNet-Lite0 features (pooled ReLU6 output, >= 0)",
    "motion": "16-d 4x4 grid of motion energy (mean absolute difference to the previous frame)",
    "handcrafted": "144-d weight-free: ink-image PCA (64), colour histogram (64), the motion grid (16)",
}
DEFAULT_VIDEO_FEATURES: tuple[str, ...] = ("appearance", "motion")


def default_root() -> Path:
    """``$CROSSCLR_DATA_DIR/emoji_motion`` when that variable is set, else the repository's ``data/emoji_motion``."""
    env = os.environ.get("CROSSCLR_DATA_DIR")
    if env:
        return Path(env) / "emoji_motion"
    root = repo_root()
    if root is None:
        raise FileNotFoundError(NO_DATA)
    return root / "data" / "emoji_motion"


def _root(root) -> Path:
    path = Path(root) if root is not None else default_root()
    if not (path / MANIFEST).is_file():
        raise FileNotFoundError(f"no Emoji Motion data at {path} (missing {MANIFEST}); build it with: {REBUILD} "
                                "(or point root= / $CROSSCLR_DATA_DIR at a folder holding emoji_motion/)")
    return path


def _manifest(root: Path) -> dict[str, str]:
    """file name -> sha256 from ``root/MANIFEST.sha256`` (:func:`crossclr_lab.files.read_manifest`)."""
    entries = read_manifest(root, f"restore it from git or rebuild with: {REBUILD}")
    missing = [n for n in _REQUIRED if n not in entries]
    if missing:
        raise ValueError(f"{root / MANIFEST} does not list {missing}; rebuild with: {REBUILD}")
    return entries


@lru_cache(maxsize=None)
def _verified(root: Path, stamp: tuple) -> None:
    # Cached per process and keyed on (size, mtime) of every file: a file changed later is checked again.
    for name, digest in _manifest(root).items():
        path = root / name
        if not path.is_file():
            raise FileNotFoundError(f"Emoji Motion file {path} listed in {MANIFEST} is missing; "
                                    f"rebuild with: {REBUILD}")
        if sha256_file(path) != digest:
            raise ValueError(f"Emoji Motion file {path} is corrupt or truncated (sha256 does not match {MANIFEST}); "
                             f"restore it from git (git checkout -- {path}) or rebuild with: {REBUILD}")


def verify_emoji_motion(root=None) -> Path:
    """Check every file of ``root`` against its sha256 manifest (once per process per file state)."""
    path = _root(root).resolve()
    stamp = tuple((n, (path / n).stat().st_size, (path / n).stat().st_mtime_ns) if (path / n).is_file() else (n,)
                  for n in [MANIFEST, *_manifest(path)])
    _verified(path, stamp)
    return path


def _metadata(root: Path) -> dict:
    return json.loads(gzip.decompress((root / "metadata.json.gz").read_bytes()).decode("utf-8"))


def emoji_motion_metadata(root=None, verify: bool = True) -> list[dict]:
    """All clips' metadata rows (sorted by ``id``), incl. alternative captions ``caption_label``/``caption_shortcodes``,
    ``tags``, ``emoji``, ``animated``, ``n_frames`` and both splits. The build summary is in ``emoji_motion_info``."""
    path = verify_emoji_motion(root) if verify else _root(root)
    return _metadata(path)["clips"]


def emoji_motion_info(root=None) -> dict:
    """The build summary: sources and versions, counts, feature layout, split sizes."""
    return _metadata(verify_emoji_motion(root))["info"]


def video_feature_names(video_features) -> tuple[str, ...]:
    """``video_features`` (one expert name or a list of them) as a tuple of names, checked against
    :data:`VIDEO_FEATURES`; ``ValueError`` (``TypeError`` for a non-string) listing the choices otherwise."""
    choices = ", ".join(repr(n) for n in VIDEO_FEATURES)
    names = (video_features,) if isinstance(video_features, str) else video_features
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise TypeError(f"video_features must be an expert name or a list of them ({choices}), "
                        f"got {video_features!r}")
    if not names:
        raise ValueError(f"video_features is empty; name at least one of {choices}")
    unknown = [n for n in names if n not in VIDEO_FEATURES]
    if unknown:
        raise ValueError(f"unknown video feature(s) {', '.join(map(repr, unknown))}; choose from {choices} "
                         "(one name or a list, concatenated per frame)")
    if len(set(names)) != len(names):
        raise ValueError(f"video_features lists an expert twice: {list(names)}")
    return tuple(names)


@lru_cache(maxsize=2)
def _arrays(features: Path, stamp: tuple) -> dict[str, np.ndarray]:
    # The arrays of features.npz, cached per file state (the three splits of one run read the file once).
    with np.load(features) as z:
        arrays = {k: z[k] for k in z.files}
    for name, arr in arrays.items():
        bad = int(arr.size - np.isfinite(arr).sum()) if arr.dtype.kind == "f" else 0
        if bad:
            raise ValueError(f"{features}: array {name!r} has {bad} non-finite value(s) (NaN or Inf); restore "
                             f"data/emoji_motion from git or rebuild with: {REBUILD}")
    return arrays


def _expert(arrays: dict, info: dict, name: str, keep: list[int]) -> np.ndarray:
    """Frame features ``[len(keep), T, D]`` (float16) of expert ``name`` for the clips ``keep``."""
    if name == "appearance":
        return arrays["appearance"][arrays["appearance_index"][keep]]
    start, stop = (0, None) if name == "handcrafted" else info["feature_layout"][name]
    return arrays["handcrafted"][keep, :, start:stop]


def load_emoji_motion(split: str = "train", split_kind: str = "concept", include_static: bool = False,
                      root=None, verify: bool = True,
                      video_features: str | list[str] | tuple[str, ...] = DEFAULT_VIDEO_FEATURES) -> PairedFeatures:
    """Emoji Motion features for one split.

    Args:
        split: "train", "val", "test" or "all".
        split_kind: "concept" (whole concepts held out: skin-tone and gender variants stay together) or
            "random" (clips held out; their concepts are seen in training).
        include_static: also the single-frame clips (their frame repeated, motion 0).
        root: folder holding the shipped files (default: :func:`default_root`).
        verify: check the files' sha256 manifest first (cached per process).
        video_features: one name of :data:`VIDEO_FEATURES` or a list of them, concatenated per frame in the
            order given (default :data:`DEFAULT_VIDEO_FEATURES`): "appearance" (1280-d, pretrained CNN),
            "motion" (16-d), "handcrafted" (144-d: 0:64 ink PCA, 64:128 colour histogram, 128:144 motion).

    Returns:
        :class:`PairedFeatures` named "emoji_motion": ``video [N, 8, D]`` float32 (D = the experts' dims
        summed), ``video_lengths [N]`` (all 8), ``text [N, 384]`` float32 MiniLM caption embeddings,
        ``captions``, ``ids`` (emoji hexcodes), ``groups`` base/concept/subcategory/category, and
        ``thumbnail_fn`` (i -> 32x32 RGBA PIL image) when thumbnails are shipped.
    """
    check_choice("split", split, SPLITS)
    check_choice("split_kind", split_kind, SPLIT_KINDS)
    check_bool("include_static", include_static)
    names = video_feature_names(video_features)
    path = verify_emoji_motion(root) if verify else _root(root)
    meta = _metadata(path)
    rows = meta["clips"]
    features = path / "features.npz"
    arrays = _arrays(features, (features.stat().st_size, features.stat().st_mtime_ns))
    if "appearance" not in arrays:
        raise ValueError(f"{path} is an older build without the pretrained video experts (format "
                         f"{meta['info'].get('format')}); restore data/emoji_motion from git or rebuild with: "
                         f"{REBUILD}")
    ids, text = arrays["ids"].tolist(), arrays["text"]
    if ids != [r["id"] for r in rows]:
        raise ValueError(f"{path}: features.npz and metadata.json.gz describe different clips; rebuild with: {REBUILD}")
    keep = [i for i, r in enumerate(rows) if (include_static or r["animated"])
            and (split == "all" or r[f"split_{split_kind}"] == split)]
    sel = [rows[i] for i in keep]
    parts = [_expert(arrays, meta["info"], n, keep) for n in names]
    video = np.empty((len(keep), *parts[0].shape[1:2], sum(p.shape[2] for p in parts)), dtype=np.float32)
    start = 0
    for part in parts:   # the experts side by side, widened to float32 in place (no concatenated copies)
        video[:, :, start:start + part.shape[2]] = part
        start += part.shape[2]
    del parts
    thumbnail_fn = None
    if meta["info"].get("thumbnails") and (path / "thumbnails.png").is_file():
        thumbnail_fn = _thumbnails(path / "thumbnails.png", [r["thumbnail"] for r in sel],
                                   [f"{r['id']} ({r['label']})" for r in sel], meta["info"]["thumbnail_size"])
    return PairedFeatures(
        video=torch.from_numpy(video),
        video_lengths=torch.full((len(keep),), video.shape[1], dtype=torch.long),
        text=torch.from_numpy(text[keep].astype(np.float32)),
        captions=[r["caption"] for r in sel], ids=[r["id"] for r in sel],
        groups={g: [r[g] for r in sel] for g in GROUPS}, name="emoji_motion", thumbnail_fn=thumbnail_fn,
    )


def _thumbnails(png: Path, tiles: list[int], names: list[str], size: int):
    from PIL import Image

    with Image.open(png) as im:
        sheet = im.convert("RGBA")
    cols = sheet.width // size

    def thumbnail(i: int):
        k = tiles[i]
        if k < 0:
            raise ValueError(f"clip {names[i]} has no thumbnail: the licensed thumbnail source has no picture for "
                             "it (the metadata's 'thumbnail' column is -1)")
        r, c = divmod(k, cols)
        return sheet.crop((c * size, r * size, (c + 1) * size, (r + 1) * size))

    return thumbnail


def card_lines(data_root=None) -> list[str]:
    """The data card (``README.md`` of the data folder) as lines, or a line saying where it was looked for."""
    card = (Path(data_root) if data_root is not None else default_root()) / "README.md"
    if not card.is_file():
        return [f"(no data card found at {card})"]
    return ["data card:", *card.read_text(encoding="utf-8").rstrip().splitlines()]


def expert_views(data_root=None, **settings) -> dict[str, torch.Tensor]:
    """Pooled train features ``[N, D]``: each video expert alone, the default set, and the text (for the data
    card's weight-share table, whatever set ``settings`` picks)."""
    settings = {k: v for k, v in settings.items() if k != "video_features"}
    pooled = {}
    for experts in dict.fromkeys([*((n,) for n in VIDEO_FEATURES), DEFAULT_VIDEO_FEATURES]):
        train = load_emoji_motion("train", root=data_root, video_features=list(experts), **settings)
        default = " (default)" if experts == DEFAULT_VIDEO_FEATURES else ""
        pooled[f"video {'+'.join(experts)}{default}"] = train.video_pooled
    pooled["text"] = train.text_pooled
    return pooled


def alternative_captions(features: PairedFeatures, data_root=None) -> list[list[str]]:
    """Per clip of ``features``: its other CLDR-based captions from the metadata, the CLDR name alone
    (``caption_label``) and the shortcodes (``caption_shortcodes``); empty ones left out."""
    rows = {r["id"]: r for r in emoji_motion_metadata(data_root)}
    missing = [i for i in features.ids if i not in rows]
    if missing:
        raise ValueError(f"{len(missing)} clip ids (e.g. {missing[0]!r}) are not in the Emoji Motion metadata")
    return [[rows[i][k] for k in ("caption_label", "caption_shortcodes") if rows[i].get(k)] for i in features.ids]


DATASET = DatasetSpec(
    name="emoji_motion",
    description="animated Fluent Emoji clips paired with their CLDR names (features in data/emoji_motion)",
    load=lambda split, data_root, **settings: load_emoji_motion(split, root=data_root, **settings),
    splits=lambda data_root: SPLITS, loader=load_emoji_motion, default_root=default_root,
    cli_settings=("split_kind", "video_features"),
    card=card_lines, views=expert_views, references=alternative_captions)
