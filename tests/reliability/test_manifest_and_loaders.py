"""Issue 23, items 5-7 (data): MANIFEST entries outside their folder are refused for every format (folder datasets,
Emoji Motion, the shipped models); loaders refuse non-finite values and an .npz saved under a .npy name; a card's
``format_version: true`` is not taken as 1."""

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from fixtures.tiny_runs import run_cli

from crossclr_lab.data import make_synthetic
from crossclr_lab.data.emoji_motion import default_root, load_emoji_motion
from crossclr_lab.data.folder import check_folder, export_folder, load_folder, read_card
from crossclr_lab.files import MANIFEST, write_manifest
from crossclr_lab.training import pretrained

OUTSIDE = ["../outside.npy", "/etc/hostname", "train/../../outside.npy", "./card.json"]


@pytest.fixture
def folder(tmp_path):
    kw = {"n_concepts": 3, "pairs_per_concept": 4, "video_dim": 5, "text_dim": 4, "frames": 2}
    return export_folder({"train": make_synthetic(split="train", **kw)}, tmp_path / "ds", licence="CC0")


@pytest.fixture(scope="module")
def emoji_copy(tmp_path_factory):
    root = tmp_path_factory.mktemp("data") / "emoji_motion"
    shutil.copytree(default_root(), root)
    return root


def _add_line(root, rel, target):
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    with open(root / MANIFEST, "a") as f:
        f.write(f"{digest}  {rel}\n")


@pytest.mark.parametrize("rel", OUTSIDE)
def test_a_folder_manifest_entry_outside_the_folder_is_refused(folder, tmp_path, rel):
    target = tmp_path / "outside.npy"
    np.save(target, np.zeros(3))
    _add_line(folder, rel, target if not rel.startswith("/") else Path(rel))
    with pytest.raises(ValueError, match="not a relative path inside the folder"):
        check_folder(folder)


@pytest.mark.parametrize("rel", OUTSIDE)
def test_an_emoji_motion_manifest_entry_outside_the_folder_is_refused(emoji_copy, rel):
    manifest = (emoji_copy / MANIFEST).read_text()
    try:
        (emoji_copy / MANIFEST).write_text(manifest + f"{'0' * 64}  {rel}\n")
        with pytest.raises(ValueError, match="not a relative path inside the folder"):
            load_emoji_motion("val", root=emoji_copy)
    finally:
        (emoji_copy / MANIFEST).write_text(manifest)


@pytest.mark.parametrize("rel", OUTSIDE)
def test_a_shipped_models_manifest_entry_outside_the_folder_is_refused(tmp_path, rel):
    root = tmp_path / "pretrained"
    shutil.copytree(pretrained.SHIPPED_DIR, root)
    good = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.pt"))[0]
    with open(root / MANIFEST, "a") as f:
        f.write(f"{'0' * 64}  {rel}\n")
    with pytest.warns(UserWarning, match="not a relative path inside the folder"):
        assert pretrained.shipped_entry(good, root) is None


def test_nan_in_emoji_motion_features_with_a_consistent_manifest_is_refused(tmp_path):
    root = tmp_path / "emoji_motion"
    shutil.copytree(default_root(), root)
    with np.load(root / "features.npz") as z:
        arrays = {k: z[k] for k in z.files}
    arrays["handcrafted"] = arrays["handcrafted"].copy()
    arrays["handcrafted"][3, 2, :5] = np.nan
    np.savez(root / "features.npz", **arrays)
    listed = [line.split("  ", 1)[1] for line in (root / MANIFEST).read_text().splitlines()]
    write_manifest(root, listed)                     # the manifest agrees with the damaged file
    with pytest.raises(ValueError, match="'handcrafted' has 5 non-finite value"):
        load_emoji_motion("train", root=root, video_features="handcrafted")


def test_an_npz_saved_under_a_npy_name_is_one_clear_error(folder, tmp_path, capsys):
    video = folder / "train" / "video.npy"
    arr = np.load(video)
    with open(video, "wb") as f:
        np.savez(f, arr)                             # an .npz archive under the .npy name
    (folder / MANIFEST).unlink()
    with pytest.raises(ValueError, match="an .npz archive saved under a .npy name"):
        load_folder(folder)
    code, _, err = run_cli(["train", "--dataset", "folder", "--data-root", folder, "--epochs", "1",
                            "--out", tmp_path / "run"], capsys)
    assert code != 0 and ".npz archive" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("value", [True, 1.0, "1"])
def test_a_card_format_version_that_is_not_the_integer_is_refused(folder, value):
    card = json.loads((folder / "dataset.json").read_text())
    (folder / "dataset.json").write_text(json.dumps({**card, "format_version": value}))
    with pytest.raises(ValueError, match="format_version"):
        read_card(folder)


def test_non_finite_folder_view_values_are_counted_in_the_error(folder):
    video = folder / "train" / "video.npy"
    arr = np.load(video)
    arr[1, 0, :2] = np.nan
    arr[5, 1, 0] = np.inf
    np.save(video, arr)
    (folder / MANIFEST).unlink()
    with pytest.raises(ValueError, match=r"item 1 .* has nan at index \[1, 0, 0\] \(3 non-finite value"):
        load_folder(folder)
