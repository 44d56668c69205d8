"""load_dataset dispatch and the `python -m crossclr_lab.experiments.data_card` command."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from fixtures.youcook2_layout import HANDMADE, HANDMADE_FRAMES, write_root

from crossclr_lab.data import DATASETS, PairedFeatures, load_dataset, make_synthetic
from crossclr_lab.experiments.data_card import describe, main

REPO = Path(__file__).resolve().parents[2]
COOT_LENS = {"vidTrainAAA": [4, 6], "vidTrainBBB": [3], "vidTrainCCC": [5], "vidValDDD": [2, 7]}


def _emoji_motion_available() -> bool:
    try:
        from crossclr_lab.data.emoji_motion import default_root
    except ImportError:
        return False
    return (default_root() / "MANIFEST.sha256").is_file()


needs_emoji = pytest.mark.skipif(not _emoji_motion_available(),
                                 reason="Emoji Motion data (data/emoji_motion) not built")


def test_names():
    assert set(DATASETS) == {"emoji_motion", "youcook2", "synthetic", "folder"}


def test_unknown_name_lists_the_choices():
    with pytest.raises(ValueError,
                       match="unknown dataset 'ucf101'; choose one of emoji_motion, folder, synthetic, youcook2"):
        load_dataset("ucf101")


def test_synthetic_splits_match_make_synthetic_and_differ():
    train = load_dataset("synthetic", "train", n_concepts=4, pairs_per_concept=3)
    assert isinstance(train, PairedFeatures) and len(train) == 12
    assert torch.equal(train.text, make_synthetic(n_concepts=4, pairs_per_concept=3).text)
    val, test = (load_dataset("synthetic", s, n_concepts=4, pairs_per_concept=3) for s in ("val", "test"))
    assert torch.equal(val.text, make_synthetic(n_concepts=4, pairs_per_concept=3, split="val").text)
    assert not torch.allclose(train.text, val.text) and not torch.allclose(val.text, test.text)
    assert train.groups == val.groups == test.groups


def test_synthetic_rejects_data_root_and_bad_split():
    with pytest.raises(ValueError, match="drop data_root"):
        load_dataset("synthetic", data_root="/tmp")
    with pytest.raises(ValueError, match="has splits train, val, test"):
        load_dataset("synthetic", "dev")


def test_youcook2_needs_a_root_and_has_no_test_split(tmp_path):
    with pytest.raises(ValueError, match="youcook2 needs data_root"):
        load_dataset("youcook2", "train")
    with pytest.raises(ValueError, match="no public test split; the paper evaluates on 'val'"):
        load_dataset("youcook2", "test", data_root=tmp_path)
    with pytest.raises(FileNotFoundError, match="video_feat_100m.h5"):
        load_dataset("youcook2", "val", data_root=tmp_path)


def test_youcook2_through_the_registry(tmp_path):
    root = write_root(tmp_path, HANDMADE, HANDMADE_FRAMES, text_lens=COOT_LENS)
    data = load_dataset("youcook2", "val", data_root=root, text_features="text_default.h5", max_frames=4)
    assert data.name == "youcook2" and len(data) == 2 and data.video.shape == (2, 4, 512)


@needs_emoji
def test_emoji_motion_through_the_registry():
    from crossclr_lab.data.emoji_motion import load_emoji_motion

    data = load_dataset("emoji_motion", "val", split_kind="random")
    assert data.name == "emoji_motion" and data.ids == load_emoji_motion("val", split_kind="random").ids


def test_describe_synthetic(capsys):
    assert main(["synthetic", "--set", "n_concepts=3", "--set", "pairs_per_concept=5", "--set", "frames=4"]) == 0
    out = capsys.readouterr().out
    for split in ("train", "val", "test"):
        assert f"split {split}:" in out
    assert out.count("items: 15") == 3
    assert "video: [15, 4, 64]" in out and "text:  [15, 48]" in out
    assert "group 'concept': 3 labels, 5..5 items per label" in out


def test_describe_youcook2_one_split(tmp_path):
    root = write_root(tmp_path, HANDMADE, HANDMADE_FRAMES, text_lens=COOT_LENS)
    report = describe("youcook2", str(root), ["val"], text_features="text_default.h5", text_tokens=True)
    assert "split val:" in report and "split train:" not in report
    assert "text:  [2, 7, 1536] (valid tokens 2..7)" in report
    assert "group 'recipe': 1 labels" in report


@pytest.mark.parametrize("argv, match", [
    (["nope"], "invalid choice: 'nope'"),
    (["youcook2"], "youcook2 needs data_root"),
    (["youcook2", "--data-root", "/nonexistent"], "gingsi/coot-videotext"),
    (["synthetic", "--set", "n_concepts"], "expected KEY=VALUE"),
    (["synthetic", "--set", "n_concepts=0"], "n_concepts must be an int >= 1"),
    (["synthetic", "--split", "dev"], "has splits train, val, test"),
])
def test_describe_bad_arguments_exit_2_with_one_line(capsys, argv, match):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert match in err and err.count("\n") == 1


def test_describe_runs_as_a_module():
    ok = subprocess.run([sys.executable, "-m", "crossclr_lab.experiments.data_card", "synthetic", "--split", "val"],
                        capture_output=True, text=True, cwd=REPO, timeout=120)
    assert ok.returncode == 0 and "split val:" in ok.stdout and "items: 200" in ok.stdout


def test_describe_emoji_motion_data_card(tmp_path):
    if _emoji_motion_available():
        report = describe("emoji_motion")
        assert "split test:" in report and "data card:" in report and "group 'concept'" in report
    else:  # without the data the loader's own message comes through
        with pytest.raises(FileNotFoundError, match="build_emoji_motion"):
            describe("emoji_motion")


def test_data_card_is_printed_when_present_and_its_absence_said(tmp_path):
    card = DATASETS["emoji_motion"].card
    assert card(str(tmp_path)) == [f"(no data card found at {tmp_path / 'README.md'})"]
    (tmp_path / "README.md").write_text("# Emoji Motion\nlicence notes\n")
    assert card(str(tmp_path)) == ["data card:", "# Emoji Motion", "licence notes"]
    assert DATASETS["synthetic"].card is None


@pytest.mark.parametrize("name, setting", [("synthetic", "video_features"), ("emoji_motion", "text_features"),
                                           ("youcook2", "split_kind"), ("emoji_motion", "n_concepts")])
def test_a_setting_the_dataset_does_not_take_is_refused_with_the_ones_it_does(name, setting):
    spec = DATASETS[name]
    with pytest.raises(ValueError, match=f"dataset {name!r} takes no setting {setting!r}; it accepts: "
                                         f"{', '.join(spec.settings)}"):
        load_dataset(name, "train", "/nowhere" if spec.root == "required" else None, **{setting: 1})


def test_every_dataset_is_one_spec_with_its_loader_splits_and_settings():
    for name, spec in DATASETS.items():
        assert spec.name == name and spec.description and spec.settings
        assert "split" not in spec.settings and "data_root" not in spec.settings
