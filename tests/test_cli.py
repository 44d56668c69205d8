"""The ``crossclr-lab`` command line: help, exit codes, one-line usage errors, tiny real runs."""

import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from fixtures.tiny_runs import run_cli

from crossclr_lab.cli import COMMANDS

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def restore_threads():
    threads = torch.get_num_threads()  # the CLI's --threads sets the process-wide value
    yield
    torch.set_num_threads(threads)




def test_module_help_in_a_subprocess():
    proc = subprocess.run([sys.executable, "-m", "crossclr_lab", "--help"], cwd=REPO, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0
    for name in COMMANDS:
        assert name in proc.stdout


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_subcommand_has_help(command, capsys):
    code, out, _ = run_cli([command, "--help"], capsys)
    assert code == 0 and "usage: crossclr-lab " + command in out


@pytest.mark.parametrize("argv, expected", [
    (["train", "--loss", "clip", "--out", "x"], "invalid choice: 'clip' (choose from 'crossclr', 'infonce'"),
    (["compare", "--dataset", "lsmdc", "--out", "x"], "choose from 'emoji_motion', 'folder', 'synthetic', 'youcook2'"),
    (["train", "--dataset", "synthetic", "--encoder", "lstm", "--out", "x"], "choose from 'mlp', 'temporal'"),
    (["train", "--dataset", "synthetic", "--loss", "infonce", "--queue-size", "8", "--out", "x"],
     "--queue-size: not an option of --loss 'infonce'"),
    (["train", "--dataset", "synthetic", "--split-kind", "random", "--out", "x"], "emoji_motion only"),
    (["train", "--dataset", "synthetic", "--video-features", "motion", "--out", "x"], "emoji_motion only"),
    (["compare", "--video-features", "pixels", "--out", "x"], "invalid choice: 'pixels' (choose from 'appearance'"),
    (["train", "--dataset", "synthetic", "--group", "colour", "--out", "x"], "choose one of concept"),
    (["train", "--dataset", "synthetic", "--prune-threshold", "high", "--out", "x"], "a number or 'none'"),
    (["train", "--dataset", "youcook2", "--out", "x"], "needs data_root="),
    (["compare", "--dataset", "synthetic", "--seeds", "0", "--out", "x"], "--seeds must be >= 1"),
    (["compare", "--dataset", "synthetic", "--losses", "dcl", "--baseline", "infonce", "--out", "x"],
     "--baseline 'infonce' is not among"),
    ([], "required: COMMAND"),
])
def test_usage_errors_exit_2_with_one_line(argv, expected, capsys, tmp_path):
    argv = [str(tmp_path / a) if a == "x" else a for a in argv]
    code, out, err = run_cli(argv, capsys)
    assert code == 2
    assert expected in err
    assert len(err.strip().splitlines()) == 1, err


def test_missing_dataset_path_says_what_to_pass(capsys, tmp_path):
    code, _, err = run_cli(["train", "--dataset", "youcook2", "--data-root", str(tmp_path / "nowhere"),
                         "--out", str(tmp_path / "run")], capsys)
    assert code == 2
    assert "youcookii_annotations_trainval.json" in err and len(err.strip().splitlines()) == 1


def test_resume_without_checkpoint_is_a_usage_error(capsys, tmp_path):
    code, _, err = run_cli(["train", "--dataset", "synthetic", "--resume", "--out", str(tmp_path)], capsys)
    assert code == 2 and "run without --resume first" in err


def test_train_writes_record_with_test_metrics_and_resumes(capsys, tmp_path):
    argv = ["train", "--dataset", "synthetic", "--loss", "crossclr", "--queue-size", "64", "--weight-temperature",
            "none", "--batch-size", "32", "--threads", "1", "--no-progress", "--out", str(tmp_path)]
    code, out, _ = run_cli(argv + ["--epochs", "2"], capsys)
    assert code == 0 and "test: t2v_r1" in out
    record = json.loads((tmp_path / "record.json").read_text())
    assert record["config"]["loss_kwargs"] == {"queue_size": 64, "weight_temperature": None}
    assert record["test"]["t2v_r1"] >= 0 and record["epochs_run"] == 2
    # resuming a finished run with more epochs continues from its checkpoint
    code, out, _ = run_cli(argv + ["--epochs", "3", "--resume"], capsys)
    record = json.loads((tmp_path / "record.json").read_text())
    assert code == 0 and record["epochs_run"] == 3 and len(record["history"]) == 3


def test_tiny_compare_run_prints_table_and_verdict(capsys, tmp_path):
    code, out, _ = run_cli(["compare", "--dataset", "synthetic", "--losses", "crossclr", "infonce", "--seeds", "2",
                         "--epochs", "2", "--batch-size", "50", "--threads", "1", "--out", str(tmp_path)], capsys)
    assert code == 0
    assert "| crossclr " in out and "| chance " in out and "Δ crossclr − infonce" in out
    assert "Verdict crossclr vs infonce over 2 paired seeds" in out and "too few seeds" in out
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["baseline"] == "infonce" and results["group"] == "concept"
    assert [r["seed"] for r in results["variants"]["crossclr"]["runs"]] == [0, 1]
    assert (tmp_path / "results.md").read_text().count("| infonce ") == 1
    for figure in ("recall_curves.png", "loss_curves.png", "metrics.png"):
        assert (tmp_path / figure).read_bytes()[:4] == b"\x89PNG"


def test_ablation_in_one_call(capsys, tmp_path):
    code, out, _ = run_cli(["ablate", "--dataset", "synthetic", "--seeds", "1", "--epochs", "1", "--batch-size", "50",
                         "--queue-sizes", "100", "--threads", "1", "--out", str(tmp_path)], capsys)
    assert code == 0
    for row in ("crossclr (full)", "no intra", "no pruning", "no weighting", "none (= InfoNCE)", "queue 100"):
        assert f"| {row}" in out


def _tiny_youcook2(root: Path, n_train=6, n_val=3, clips=4, dim=512, text_dim=24) -> Path:
    """COOT's layout in miniature: annotations JSON, per-video S3D h5, BERT token h5 + sentence lengths JSON."""
    rng = np.random.default_rng(0)
    database, lens = {}, {}
    root.mkdir(parents=True)
    with h5py.File(root / "video_feat_100m.h5", "w") as vid, h5py.File(root / "text_default.h5", "w") as txt:
        for i in range(n_train + n_val):
            vid_id = f"vid{i:03d}"
            database[vid_id] = {"duration": 40.0, "subset": "training" if i < n_train else "validation",
                                "recipe_type": str(100 + i % 3), "video_url": "",
                                "annotations": [{"segment": [10 * j, 10 * j + 8], "id": j,
                                                 "sentence": f"step {j} of video {i}"} for j in range(clips)]}
            vid[vid_id] = rng.standard_normal((40, dim)).astype(np.float32)
            lens[vid_id] = [3] * clips
            txt[vid_id] = rng.standard_normal((3 * clips, text_dim)).astype(np.float16)
    (root / "youcookii_annotations_trainval.json").write_text(json.dumps({"database": database}))
    (root / "text_lens_default.json").write_text(json.dumps(lens))
    return root


def test_youcook2_path_on_a_tiny_fixture(capsys, tmp_path):
    root = _tiny_youcook2(tmp_path / "yc2")
    code, out, _ = run_cli(["train", "--dataset", "youcook2", "--data-root", str(root), "--text-features",
                         "text_default.h5", "--encoder", "temporal", "--epochs", "2", "--batch-size", "8",
                         "--threads", "1", "--no-progress", "--out", str(tmp_path / "run")], capsys)
    assert code == 0
    assert "val: t2v_r1" in out  # YouCook2 has no public test split: evaluated on val
    record = json.loads((tmp_path / "run" / "record.json").read_text())
    assert record["dataset"] == "youcook2" and record["n_train"] == 24 and record["n_val"] is None
    assert record["config"]["group"] == "recipe" and "t2v_sem_r1" in record["val"]


@pytest.mark.slow
def test_demo_end_to_end(tmp_path):
    """The README's first command, in a subprocess, with one seed and 3 epochs to keep CI short."""
    env = {**os.environ, "CI": "1"}
    proc = subprocess.run([sys.executable, "-m", "crossclr_lab", "demo", "--seeds", "1", "--epochs", "3",
                           "--out", str(tmp_path)],
                          cwd=REPO, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "| crossclr " in proc.stdout and "Verdict crossclr vs infonce" in proc.stdout
    for name in ("recall_curves.png", "loss_curves.png", "metrics.png", "results.json", "results.md"):
        assert (tmp_path / name).stat().st_size > 0


def test_youcook2_compare_evaluates_on_val_without_model_selection(capsys, tmp_path):
    root = _tiny_youcook2(tmp_path / "yc2")
    code, out, _ = run_cli(["compare", "--dataset", "youcook2", "--data-root", str(root), "--text-features",
                         "text_default.h5", "--losses", "crossclr", "infonce", "--seeds", "1", "--epochs", "1",
                         "--batch-size", "8", "--threads", "1", "--out", str(tmp_path / "cmp")], capsys)
    assert code == 0 and "no separate val split: the last epoch is evaluated; evaluated on val, 12 pairs" in out
    results = json.loads((tmp_path / "cmp" / "results.json").read_text())
    assert results["n_test"] == 12 and results["group"] == "recipe"
    assert results["variants"]["crossclr"]["runs"][0]["best_epoch"] is None


def test_video_features_reach_the_emoji_motion_loader():
    from crossclr_lab.cli import _load_splits, build_parser
    from crossclr_lab.data.emoji_motion import DEFAULT_VIDEO_FEATURES, load_emoji_motion

    args = build_parser().parse_args(["compare", "--video-features", "motion", "handcrafted", "--out", "x"])
    (train, val, test), split = _load_splits(args)
    assert split == "test" and train.video.shape[-1] == val.video.shape[-1] == test.video.shape[-1] == 16 + 144
    default = _load_splits(build_parser().parse_args(["compare", "--out", "x"]))[0][2]
    assert torch.equal(default.video, load_emoji_motion("test", video_features=DEFAULT_VIDEO_FEATURES).video)


def test_version_and_describe(capsys):
    from crossclr_lab import __version__

    code, out, _ = run_cli(["--version"], capsys)
    assert code == 0 and out.strip() == f"crossclr-lab {__version__}"
    code, out, _ = run_cli(["describe", "synthetic", "--split", "val"], capsys)
    assert code == 0 and out.startswith("dataset synthetic:") and "split val:" in out and "split train:" not in out
    code, _, err = run_cli(["describe", "synthetic", "--weight-temperature", "-1"], capsys)
    assert code == 2 and err.count("\n") == 1 and "--weight-temperature > 0" in err


def test_a_command_says_first_which_packages_it_lacks(capsys, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "umap" else real(name, *a))
    code, out, err = run_cli(["demo", "--out", "never_written"], capsys)
    assert code == 2 and out == "" and err.count("\n") == 1 and not Path("never_written").exists()
    assert "lacks umap-learn, which `demo` needs: pip install umap-learn" in err
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    code, _, err = run_cli(["caption", "--out", "never_written"], capsys)
    assert code == 2 and "lacks pycocoevalcap" in err


def test_a_config_file_sets_defaults_and_a_record_reruns_its_run(tmp_path, capsys):
    from fixtures.tiny_runs import TRAIN_ARGS

    (tmp_path / "bad.toml").write_text("epochs = 1\nn_concepts = 3\n")
    code, _, err = run_cli(["train", "--config", tmp_path / "bad.toml", "--out", tmp_path / "x"], capsys)
    assert code == 2 and "n_concepts not flags of `train`" in err
    (tmp_path / "c.toml").write_text('loss = "nt_xent"\nepochs = 2\nlr = 0.01\n')
    code, _, err = run_cli(["train", *TRAIN_ARGS, "--config", tmp_path / "c.toml", "--epochs", "1",
                            "--out", tmp_path / "a"], capsys)
    assert code == 0, err
    first = json.loads((tmp_path / "a" / "record.json").read_text())
    assert (first["config"]["loss"], first["config"]["epochs"], first["config"]["lr"]) == ("nt_xent", 1, 0.01)
    code, _, err = run_cli(["train", "--config", tmp_path / "a" / "record.json", "--threads", "1", "--no-progress",
                            "--out", tmp_path / "b"], capsys)   # the record alone repeats the run
    assert code == 0, err
    again = json.loads((tmp_path / "b" / "record.json").read_text())
    assert again["config"] == first["config"] and again["data"]["train"]["fingerprint"] == \
        first["data"]["train"]["fingerprint"]
    assert again["test"] == first["test"]
    code, _, err = run_cli(["compare", "--config", tmp_path / "a" / "record.json", "--out", tmp_path / "c"], capsys)
    assert code == 2 and "re-run it with `train`" in err
