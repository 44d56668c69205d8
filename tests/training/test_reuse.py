"""Reuse of trained models: plain weights + model.json beside every run, load_run / load_pretrained, and the
`embed` / `search` commands on a folder dataset trained with `train`."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from fixtures.tiny_runs import run_cli

import crossclr_lab
from crossclr_lab.cli import main
from crossclr_lab.data import load_dataset
from crossclr_lab.data.folder import export_folder
from crossclr_lab.metrics import retrieval_metrics
from crossclr_lab.training.reuse import load_pretrained, load_run

SYNTHETIC = dict(n_concepts=8, pairs_per_concept=10, video_dim=12, text_dim=10, frames=3, seed=0)


@pytest.fixture(scope="module")
def trained_folder_run(tmp_path_factory):
    """A folder dataset (exported synthetic pairs) and a `crossclr-lab train` run on it."""
    tmp = tmp_path_factory.mktemp("reuse")
    splits = {s: load_dataset("synthetic", s, **SYNTHETIC) for s in ("train", "val", "test")}
    root = export_folder(splits, tmp / "folder", licence="CC0")
    run = tmp / "run"
    assert main(["train", "--dataset", "folder", "--data-root", str(root), "--epochs", "4", "--batch-size", "16",
                 "--threads", "1", "--no-progress", "--out", str(run)]) == 0
    return root, run


def test_a_run_holds_plain_weights_a_config_and_a_history(trained_folder_run):
    _, run = trained_folder_run
    from safetensors.torch import load_file

    weights = load_file(run / "model.safetensors")      # any safetensors reader
    card = json.loads((run / "model.json").read_text())
    assert card["inputs"]["dataset"] == "folder" and card["inputs"]["video_shape"] == [3, 12]
    assert card["architecture"]["encoder"] == "mlp" and card["loss"] == "crossclr"
    assert all(t.dtype == torch.float32 for t in weights.values())
    assert weights.keys() == load_run(run).model.state_dict().keys()
    rows = list(csv.DictReader((run / "history.csv").open()))
    record = json.loads((run / "record.json").read_text())
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    assert [float(r["val_rsum"]) for r in rows] == pytest.approx([e["val"]["rsum"] for e in record["history"]])
    assert [float(r["train_loss"]) for r in rows] == pytest.approx([e["train"]["loss"] for e in record["history"]])


def test_load_run_gives_the_evaluated_model(trained_folder_run):
    root, run = trained_folder_run
    reused = crossclr_lab.load_run(run)       # the package root re-exports it
    assert not reused.model.training and reused.inputs["data_root"] == str(root.resolve())
    test = reused.dataset("test")
    metrics = retrieval_metrics(*reused.embed(test), groups=test.groups["concept"])
    record = json.loads((run / "record.json").read_text())
    assert metrics["rsum"] == pytest.approx(record["test"]["rsum"])
    other = load_dataset("synthetic", "test", **{**SYNTHETIC, "video_dim": 7})
    with pytest.raises(ValueError, match="takes 12-d video and 10-d text features"):
        reused.embed(other)


def test_embed_and_search_on_the_folder_dataset_give_ranked_captions(trained_folder_run, tmp_path, capsys):
    root, run = trained_folder_run
    code, out, err = run_cli(["embed", "--run", run, "--out", tmp_path / "emb.npz"], capsys)
    assert code == 0, err
    emb = np.load(tmp_path / "emb.npz")
    test = load_dataset("folder", "test", root)
    assert list(emb["ids"]) == test.ids and emb["video"].shape == emb["text"].shape == (len(test), 16 * 16)
    assert np.allclose(np.linalg.norm(emb["video"], axis=1), 1, atol=1e-5)

    query = test.ids[3]
    code, out, err = run_cli(["search", "--run", run, "--id", query, "-k", "4"], capsys)
    assert code == 0, err
    lines = out.strip().splitlines()
    assert f"top 4 of {len(test)}" in lines[0]
    hits = [line.split() for line in lines[1:]]
    expected = np.argsort(-(emb["video"] @ emb["text"][3]))[:4]         # brute force from the embeddings
    assert [h[0] for h in hits] == ["1", "2", "3", "4"]
    assert [h[3] for h in hits] == [test.ids[i] for i in expected]
    assert [" ".join(h[4:]) for h in hits] == [test.captions[i] for i in expected]


def test_search_says_what_to_do_in_one_line(trained_folder_run, capsys):
    _, run = trained_folder_run
    code, _, err = run_cli(["search", "--run", run, "a dancing cat"], capsys)   # 10-d captions: not MiniLM
    assert code == 2 and err.count("\n") == 1 and "search by an item's id instead" in err
    code, _, err = run_cli(["search", "--run", run, "--id", "nope"], capsys)
    assert code == 2 and "no item 'nope'" in err
    code, _, err = run_cli(["embed", "--run", run.parent, "--out", "x.npz"], capsys)
    assert code == 2 and "holds no run" in err


def test_damaged_weights_and_unfinished_runs_are_refused(trained_folder_run, tmp_path):
    import shutil

    _, run = trained_folder_run
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    data = bytearray((copy / "model.safetensors").read_bytes())
    data[-1] ^= 1
    (copy / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="damaged or was replaced"):
        load_run(copy)
    (copy / "model.json").unlink()
    with pytest.raises(FileNotFoundError, match="has not finished"):
        load_run(copy)


def test_load_pretrained_equals_the_shipped_cache_entry():
    from crossclr_lab.training.pretrained import SHIPPED_DIR, shipped_entry

    for loss in ("crossclr", "infonce"):
        reused = load_pretrained(loss)
        entry = shipped_entry(next((SHIPPED_DIR / "emoji_motion").glob(f"{loss}-seed0-*.pt")).relative_to(
            SHIPPED_DIR).as_posix())
        state = reused.model.state_dict()
        assert state.keys() == entry["model"].keys()
        assert all(torch.equal(state[k], entry["model"][k].float()) for k in state)
        assert reused.config["loss"] == loss and reused.inputs["dataset"] == "emoji_motion"
    with pytest.raises(ValueError, match="ships crossclr, infonce"):
        load_pretrained("nt_xent")


def test_an_installed_package_without_the_data_says_where_to_point(monkeypatch):
    from crossclr_lab.training import pretrained

    monkeypatch.setattr(pretrained, "SHIPPED_DIR", None)     # a wheel without CROSSCLR_DATA_DIR
    with pytest.raises(FileNotFoundError, match="installed without its data folder.*CROSSCLR_DATA_DIR"):
        load_pretrained("crossclr")
