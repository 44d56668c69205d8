"""Issue 12, items 7 and 10: silent data problems become clear errors (or a rebuilt cache with a warning):
YouCook2 segments, dimensions, NaN features and text caches; NaN ranks; mixed group labels; manifest paths."""

import copy
import re
import shutil
import warnings

import h5py
import numpy as np
import pytest
import torch
from fixtures.youcook2_layout import HANDMADE, HANDMADE_FRAMES, video_array, write_root

from crossclr_lab.data import emoji_motion, group_codes, youcook2
from crossclr_lab.data.youcook2 import load_youcook2, parse_annotations
from crossclr_lab.metrics import retrieval_metrics, retrieval_ranks


def test_segments_past_the_end_of_the_video_are_an_error(tmp_path):
    database = copy.deepcopy(HANDMADE)
    database["vidTrainBBB"]["annotations"][0]["segment"] = [45, 70]   # the video lasts 50 s
    write_root(tmp_path, database, HANDMADE_FRAMES)
    with pytest.raises(ValueError, match=r"video 'vidTrainBBB' has segments ending after the video's duration "
                                         r"\(50 s\): \[\(45.0, 70.0\)\]"):
        load_youcook2(tmp_path, "train")


def test_transposed_and_wrong_sized_video_arrays_are_refused(tmp_path):
    root = write_root(tmp_path, HANDMADE, HANDMADE_FRAMES)
    with h5py.File(root / "video_feat_100m.h5", "a") as h5:
        del h5["vidTrainAAA"]
        h5["vidTrainAAA"] = video_array("vidTrainAAA", 50).T    # [512, 50]: would be read as 512 frames
    with pytest.raises(ValueError, match=r"entry 'vidTrainAAA' has shape \(512, 50\); expected \[frames, 512\] "
                                         r"\(transposed\?"):
        load_youcook2(root, "train")
    with h5py.File(root / "video_feat_100m.h5", "a") as h5:
        del h5["vidTrainAAA"]
        h5["vidTrainAAA"] = np.zeros((50, 256), np.float32)
    with pytest.raises(ValueError, match=r"video_feat_100m.h5: entry 'vidTrainAAA' has shape \(50, 256\)"):
        load_youcook2(root, "train")


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_features_are_refused_naming_file_and_entry(tmp_path, bad):
    lens = {"vidTrainAAA": [2, 3], "vidTrainBBB": [4], "vidTrainCCC": [1], "vidValDDD": [2, 2]}
    root = write_root(tmp_path, HANDMADE, HANDMADE_FRAMES, text_lens=lens)
    with h5py.File(root / "video_feat_100m.h5", "a") as h5:
        h5["vidTrainCCC"][7, 3] = bad
    with pytest.raises(ValueError, match=f"{root / 'video_feat_100m.h5'}: entry 'vidTrainCCC' holds 1 NaN or Inf"):
        load_youcook2(root, "train", text_features="text_default.h5")
    with h5py.File(root / "video_feat_100m.h5", "a") as h5:
        h5["vidTrainCCC"][7, 3] = 0.0
    with h5py.File(root / "text_default.h5", "a") as h5:
        h5["vidTrainAAA"][0, :4] = bad
    with pytest.raises(ValueError, match="text_default.h5: entry 'vidTrainAAA' holds 4 NaN or Inf"):
        load_youcook2(root, "train", text_features="text_default.h5")


def test_a_damaged_text_cache_is_rebuilt_with_a_warning(tmp_path):
    root = write_root(tmp_path, HANDMADE, HANDMADE_FRAMES)
    first = load_youcook2(root, "val")
    (cache,) = root.glob("youcook2_text_*.pt")
    cache.write_bytes(cache.read_bytes()[:100])                     # truncated
    with pytest.warns(UserWarning, match="MiniLM text-feature cache .* is unreadable .*; recomputing it") as rec:
        again = load_youcook2(root, "val")
    assert "checkpoint" not in str(rec[0].message)
    torch.testing.assert_close(again.text, first.text)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                              # rebuilt: the next load is silent
        torch.testing.assert_close(load_youcook2(root, "val").text, first.text)
    torch.save({"sentences": ["other"], "features": torch.zeros(1, 384)}, cache)
    with pytest.warns(UserWarning, match="holds other sentences or malformed features"):
        load_youcook2(root, "val")


def test_parse_annotations_accepts_segments_ending_at_the_end(tmp_path):
    database = copy.deepcopy(HANDMADE)
    database["vidTrainBBB"]["annotations"][0]["segment"] = [40, 50]
    write_root(tmp_path, database, HANDMADE_FRAMES)
    assert youcook2.clip_frame_indices((40, 50), 50.0, 50, 32).tolist() == list(range(40, 50))
    assert parse_annotations(tmp_path)[1].segments == ((40.0, 50.0),)


def test_a_nan_is_never_an_r1_hit():
    emb = torch.eye(4)
    broken = emb.clone()
    broken[2] = float("nan")
    with pytest.raises(ValueError, match="query embeddings contain NaN or Inf"):
        retrieval_ranks(broken, emb)
    with pytest.raises(ValueError, match="gallery embeddings contain NaN or Inf"):
        retrieval_ranks(emb, broken)
    with pytest.raises(ValueError, match="NaN or Inf"):
        retrieval_metrics(emb, broken)


def test_group_labels_of_mixed_types_are_an_error():
    assert group_codes([1, 2, 1]).tolist() == [0, 1, 0]
    with pytest.raises(ValueError, match="group labels mix types \\['int', 'str'\\]"):
        group_codes([1, "1", 2])


@pytest.mark.parametrize("name", ["../..", "../features.npz", "/etc/hostname", "sub/../../x", ".", "C:/x", "a\\b"])
def test_manifest_entries_outside_the_data_folder_are_refused(tmp_path, name):
    root = tmp_path / "emoji_motion"
    shutil.copytree(emoji_motion.default_root(), root)
    manifest = root / emoji_motion.MANIFEST
    manifest.write_text(manifest.read_text() + f"{'0' * 64}  {name}\n")
    with pytest.raises(ValueError, match=f"line 6 names {re.escape(repr(name))}, which is not a relative path inside"):
        emoji_motion.verify_emoji_motion(root)
