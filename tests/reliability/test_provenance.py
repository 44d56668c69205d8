"""Issue 12, item 5: every record and results file says what data, code and machine produced it."""

import json
import re

import pytest
import torch
from fixtures.tiny_runs import TRAIN_ARGS, run_cli
from fixtures.youcook2_layout import HANDMADE, HANDMADE_FRAMES, write_root

from crossclr_lab import __version__
from crossclr_lab.data import load_dataset
from crossclr_lab.data.provenance import describe
from crossclr_lab.utils import git_revision

pytestmark = pytest.mark.usefixtures("one_thread")


def _check_common(doc):
    assert doc["versions"]["torch"] == torch.__version__ and doc["versions"]["crossclr_lab"] == __version__
    assert doc["device"] == "cpu" and doc["world_size"] == 1
    git = git_revision()
    assert doc["git"] == git
    if git is not None:   # run from a checkout (as in CI): the commit is recorded
        assert re.fullmatch(r"[0-9a-f]{40}", git["commit"]) and isinstance(git["dirty"], bool)


def test_train_record_names_data_code_and_machine(tmp_path, capsys):
    code, _, err = run_cli(["train", *TRAIN_ARGS, "--epochs", "1", "--seed", "3", "--out", tmp_path], capsys)
    assert code == 0, err
    record = json.loads((tmp_path / "record.json").read_text())
    _check_common(record)
    assert record["seed"] == 3 and record["config"]["seed"] == 3
    assert set(record["data"]) == {"train", "val", "test"}
    for split, entry in record["data"].items():
        assert entry["dataset"] == "synthetic" and entry["split"] == split
        assert entry["n"] > 0 and re.fullmatch(r"[0-9a-f]{16}", entry["fingerprint"])
        assert entry["seed"] == 0 and entry["n_concepts"] == 20    # the generator's settings, defaults filled in
    assert len({e["fingerprint"] for e in record["data"].values()}) == 3


def test_compare_results_name_data_code_and_command(tmp_path, capsys):
    code, _, err = run_cli(["compare", "--dataset", "synthetic", "--losses", "infonce", "--seeds", "1", "--epochs",
                            "1", "--batch-size", "16", "--threads", "1", "--out", tmp_path], capsys)
    assert code == 0, err
    results = json.loads((tmp_path / "results.json").read_text())
    _check_common(results)
    assert results["command"] == "compare" and results["seeds"] == [0]
    assert {s: e["split"] for s, e in results["data"].items()} == {"train": "train", "val": "val", "test": "test"}
    run = json.loads((tmp_path / "runs" / "infonce" / "seed0" / "record.json").read_text())
    assert run["data"]["train"] == results["data"]["train"]


def test_emoji_motion_split_kind_root_and_manifest_are_recorded():
    concept, random = (describe(load_dataset("emoji_motion", "test", split_kind=k)) for k in ("concept", "random"))
    for entry, kind in ((concept, "concept"), (random, "random")):
        assert entry["split_kind"] == kind and entry["split"] == "test" and entry["include_static"] is False
        assert entry["data_root"].endswith("emoji_motion") and re.fullmatch(r"[0-9a-f]{64}", entry["manifest_sha256"])
    assert concept["fingerprint"] != random["fingerprint"]
    assert describe(load_dataset("emoji_motion", "test"))["split_kind"] == "concept"   # the default, resolved


def test_youcook2_feature_files_are_recorded(tmp_path):
    root = write_root(tmp_path, HANDMADE, HANDMADE_FRAMES, text_lens={"vidTrainAAA": [2, 3], "vidTrainBBB": [4],
                                                                      "vidTrainCCC": [1], "vidValDDD": [2, 2]})
    entry = describe(load_dataset("youcook2", "val", root, text_features="text_default.h5"))
    assert entry["video_features"] == "video_feat_100m.h5" and entry["text_features"] == "text_default.h5"
    assert entry["data_root"] == str(root.resolve()) and entry["max_frames"] == 32 and entry["n"] == 2


def test_subsets_and_shuffled_pairs_keep_their_source():
    data = load_dataset("synthetic", "val", n_concepts=4, pairs_per_concept=5)
    assert data.subset([0, 1]).source == data.source
    shuffled = data.shuffled_pairs(seed=2)
    assert shuffled.source["shuffled_pairs_seed"] == 2 and describe(shuffled)["fingerprint"] != describe(data)[
        "fingerprint"]
