"""YouCook2 loader: real annotation statistics, COOT's file layout, frame maths, text features, errors."""

import copy

import h5py
import numpy as np
import pytest
import torch
from fixtures.youcook2_layout import HANDMADE, HANDMADE_FRAMES, REAL_ANNOTATIONS, real_subset, video_array, write_root

from crossclr_lab.data import youcook2
from crossclr_lab.data.youcook2 import clip_frame_indices, load_youcook2, parse_annotations, summarize_annotations

needs_real = pytest.mark.skipif(not REAL_ANNOTATIONS.is_file(),
                                reason=f"real YouCook2 annotations not found at {REAL_ANNOTATIONS}")
COOT_LENS = {"vidTrainAAA": [4, 6], "vidTrainBBB": [3], "vidTrainCCC": [5], "vidValDDD": [2, 7]}


@needs_real
def test_real_annotation_file_counts():
    videos = parse_annotations(REAL_ANNOTATIONS)
    stats = summarize_annotations(videos)
    assert (stats["videos"], stats["clips"], stats["recipes"]) == (1790, 13829, 89)
    train, val = stats["per_split"]["train"], stats["per_split"]["val"]
    assert (train["videos"], train["clips"], train["recipes"]) == (1333, 10337, 89)
    assert (val["videos"], val["clips"], val["recipes"]) == (457, 3492, 89)
    assert sum(stats["clips_per_recipe"].values()) == 13829
    assert all(len(v.segments) == len(v.sentences) > 0 for v in videos)


@needs_real
def test_loads_tiny_features_built_from_real_annotations(tmp_path):
    database = real_subset(n_train=3, n_val=2)
    rates = [1, 0.7, 2, 1, 1.3]  # frames per second, different per video
    frames = {vid: int(round(meta["duration"] * fps)) for (vid, meta), fps in zip(database.items(), rates)}
    lens = {vid: [3] * len(meta["annotations"]) for vid, meta in database.items()}
    root = write_root(tmp_path, database, frames, text_lens=lens)
    data = load_youcook2(root, "val", text_features="text_default.h5", max_frames=16)
    val_ids = [vid for vid, meta in database.items() if meta["subset"] == "validation"]
    sentences = [a["sentence"].strip() for vid in val_ids for a in database[vid]["annotations"]]
    assert data.name == "youcook2" and len(data) == len(sentences) and data.captions == sentences
    assert data.video.shape[1:] == (int(data.video_lengths.max()), 512) and data.video_lengths.max() <= 16
    assert data.text.shape == (len(sentences), 1536)
    recipes = [database[vid]["recipe_type"] for vid in val_ids for _ in database[vid]["annotations"]]
    assert data.groups["recipe"] == recipes
    assert data.ids[0] == f"{val_ids[0]}_0"
    # The first clip's frames are the h5 rows at its segment seconds times the video's frame rate.
    vid, meta = val_ids[0], database[val_ids[0]]
    start, end = meta["annotations"][0]["segment"]
    fps = frames[vid] / meta["duration"]
    first, last = int(np.floor(start * fps)), min(int(np.ceil(end * fps)), frames[vid]) - 1
    n = int(data.video_lengths[0])
    assert data.video[0, 0, 0] == first and data.video[0, n - 1, 0] == last
    assert torch.equal(data.video[0, :n], torch.from_numpy(video_array(vid, frames[vid])[data.video[0, :n, 0].long()]))


def test_clip_frame_indices():
    assert clip_frame_indices((10, 20), duration=100, num_frames=50, max_frames=32).tolist() == [5, 6, 7, 8, 9]
    assert clip_frame_indices((1, 4), duration=60, num_frames=90, max_frames=32).tolist() == [1, 2, 3, 4, 5]
    long = clip_frame_indices((20, 59), duration=60, num_frames=90, max_frames=8)
    assert long.tolist() == np.linspace(30, 88, 8).round().astype(int).tolist()
    # A segment ending past the last frame is clipped; a sub-frame segment still gets one frame.
    assert clip_frame_indices((55, 70), duration=60, num_frames=30, max_frames=32).tolist() == [27, 28, 29]
    assert clip_frame_indices((3.1, 3.2), duration=10, num_frames=5, max_frames=32).tolist() == [1]


def test_handmade_layout_frames_groups_and_padding(tmp_path):
    root = write_root(tmp_path, HANDMADE, HANDMADE_FRAMES)
    (tmp_path / "cache").mkdir()
    data = load_youcook2(root, "train", max_frames=8, cache_dir=tmp_path / "cache")
    assert data.ids == ["vidTrainAAA_0", "vidTrainAAA_1", "vidTrainBBB_0", "vidTrainCCC_0"]
    assert data.groups == {"recipe": ["101", "101", "202", "101"],
                           "video": ["vidTrainAAA", "vidTrainAAA", "vidTrainBBB", "vidTrainCCC"]}
    assert data.video_lengths.tolist() == [5, 8, 5, 8]
    assert data.video[:, :, 0].tolist() == [
        [5, 6, 7, 8, 9, 0, 0, 0],
        np.linspace(15, 44, 8).round().tolist(),  # 30 frames sampled down to 8
        [0, 1, 2, 3, 4, 0, 0, 0],
        [10, 11, 12, 13, 14, 15, 16, 17],
    ]
    assert torch.all(data.video[0, 5:] == 0)


def test_coot_text_features_are_split_per_sentence(tmp_path):
    root = write_root(tmp_path, HANDMADE, HANDMADE_FRAMES, text_lens=COOT_LENS)
    pooled = load_youcook2(root, "train", text_features="text_default.h5")
    # Every token of sentence j of a video holds j, so the per-sentence mean is j.
    assert pooled.text.shape == (4, 1536) and pooled.text_lengths is None
    assert pooled.text[:, 0].tolist() == [0, 1, 0, 0]
    tokens = load_youcook2(root, "val", text_features="text_default.h5", text_tokens=True, max_tokens=5)
    assert tokens.text.shape == (2, 5, 1536) and tokens.text_lengths.tolist() == [2, 5]
    assert tokens.text[0, :2, 0].tolist() == [0, 0] and torch.all(tokens.text[0, 2:] == 0)
    assert tokens.text[1, :5, 0].tolist() == [1] * 5


def test_coot_text_lengths_must_match_the_sentences(tmp_path):
    bad = dict(COOT_LENS, vidTrainAAA=[10])
    root = write_root(tmp_path, HANDMADE, HANDMADE_FRAMES, text_lens=bad)
    with pytest.raises(ValueError, match="does not match its 2 annotated sentences"):
        load_youcook2(root, "train", text_features="text_default.h5")


def test_minilm_text_features_are_cached(tmp_path, monkeypatch):
    root = write_root(tmp_path / "data", HANDMADE, HANDMADE_FRAMES)
    first = load_youcook2(root, "val")
    assert first.text.shape == (2, 384)
    assert torch.allclose(first.text.norm(dim=1), torch.ones(2), atol=1e-5)
    cached = sorted(p.name for p in root.glob("youcook2_text_*"))
    assert len(cached) == 1 and cached[0].endswith(".pt")
    assert not list(root.glob(".*.tmp"))
    (tmp_path / "a_file").write_text("not a folder")
    with pytest.raises(ValueError, match="cache_dir .* is a file, not a folder"):   # said before any work
        load_youcook2(root, "val", cache_dir=tmp_path / "a_file")

    def no_model(*args, **kwargs):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(youcook2, "embed_texts", no_model)
    again = load_youcook2(root, "val")
    assert torch.equal(first.text, again.text)
    with pytest.raises(AssertionError, match="cache should have been used"):
        load_youcook2(root, "train")  # other sentences -> not in the cache


def test_missing_videos_are_skipped_with_a_count(tmp_path):
    frames = {k: v for k, v in HANDMADE_FRAMES.items() if k != "vidTrainBBB"}
    root = write_root(tmp_path, HANDMADE, frames, text_lens=COOT_LENS)
    with pytest.warns(UserWarning, match="1 of 3 videos are missing"):
        data = load_youcook2(root, "train", text_features="text_default.h5")
    assert [i.split("_")[0] for i in data.ids] == ["vidTrainAAA", "vidTrainAAA", "vidTrainCCC"]
    lens = {k: v for k, v in COOT_LENS.items() if k != "vidTrainCCC"}
    root2 = write_root(tmp_path / "b", HANDMADE, HANDMADE_FRAMES, text_lens=lens)
    expected = r"1 of 3 videos .*\(0 from video_feat_100m.h5, 1 more from text_default.h5/text_lens_default.json\)"
    with pytest.warns(UserWarning, match=expected):
        assert len(load_youcook2(root2, "train", text_features="text_default.h5")) == 3


def test_no_matching_video_is_an_error(tmp_path):
    root = write_root(tmp_path, HANDMADE, {"someOtherVideo": 10})
    with pytest.raises(ValueError, match="none of the 3 train videos"), pytest.warns(UserWarning):
        load_youcook2(root, "train", text_features=None)


def test_missing_files_name_what_is_needed_and_where_coot_publishes_it(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        load_youcook2(tmp_path, "train")
    message = str(err.value)
    for needed in ["youcookii_annotations_trainval.json", "video_feat_100m.h5", "gingsi/coot-videotext"]:
        assert needed in message
    write_root(tmp_path, HANDMADE, HANDMADE_FRAMES)
    with pytest.raises(FileNotFoundError, match="missing: text_default.h5, text_lens_default.json"):
        load_youcook2(tmp_path, "train", text_features="text_default.h5")
    with pytest.raises(FileNotFoundError, match="youcookii_annotations_trainval.json"):
        parse_annotations(tmp_path / "elsewhere")


def test_corrupt_files_give_clear_errors(tmp_path):
    root = write_root(tmp_path, HANDMADE, HANDMADE_FRAMES)
    (root / "video_feat_100m.h5").write_bytes(b"not an hdf5 file at all")
    with pytest.raises(ValueError, match="not a readable HDF5 file"):
        load_youcook2(root, "train", text_features=None)
    with h5py.File(root / "video_feat_100m.h5", "w") as h5:
        h5["vidTrainAAA"] = np.zeros((5,), np.float32)  # 1-d: not [frames, dim]
    with pytest.raises(ValueError, match="expected \\[frames_or_tokens >= 1, dim\\]"), pytest.warns(UserWarning):
        load_youcook2(root, "train", text_features=None)
    (root / "youcookii_annotations_trainval.json").write_text("{ truncated")
    with pytest.raises(ValueError, match="not a YouCook2 annotation file"):
        parse_annotations(root)


def test_bad_annotation_entries_are_named(tmp_path):
    database = copy.deepcopy(HANDMADE)
    del database["vidTrainBBB"]["annotations"][0]["sentence"]
    write_root(tmp_path, database, HANDMADE_FRAMES)
    with pytest.raises(ValueError, match="vidTrainBBB"):
        parse_annotations(tmp_path)
    database = copy.deepcopy(HANDMADE)
    database["vidValDDD"]["subset"] = "testing"
    write_root(tmp_path, database, HANDMADE_FRAMES)
    with pytest.raises(ValueError, match="subset 'testing'"):
        parse_annotations(tmp_path)


@pytest.mark.parametrize("kwargs, match", [
    ({"split": "test"}, "split must be one of \\['train', 'val'\\] \\(there is no public test split"),
    ({"max_frames": 0}, "max_frames"),
    ({"max_tokens": 0}, "max_tokens"),
    ({"text_tokens": True}, "text_tokens=True needs COOT"),
    ({"text_features": "bert.h5"}, "text_lens="),
])
def test_argument_validation(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        load_youcook2(tmp_path, **kwargs)
