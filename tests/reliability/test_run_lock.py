"""Issue 12, item 3: one writer per run folder, no finished run replaced without --overwrite, foreign folders
refused, and an unusable --out found before any training."""

import json
import os
import subprocess
import time

import pytest
from fixtures.tiny_runs import TRAIN_ARGS, run_cli, tiny_config, tiny_splits

from crossclr_lab.files import HOST
from crossclr_lab.training import runs
from crossclr_lab.training.runs import LOCK, MARKER, RunFolderError, RunLock, claim_output
from crossclr_lab.training.trainer import Trainer

pytestmark = pytest.mark.usefixtures("one_thread")
COMPARE = ["compare", "--dataset", "synthetic", "--seeds", "1", "--epochs", "1", "--batch-size", "16", "--threads", "1"]


@pytest.fixture
def holder(tmp_path):
    """Another live process holding the lock of tmp_path/run (its lock file as RunLock writes it)."""
    proc = subprocess.Popen(["sleep", "120"])
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / LOCK).write_text(json.dumps({"pid": proc.pid, "host": HOST, "started_utc": "2026-01-01",
                                                     "command": "crossclr-lab train ..."}))
    yield proc
    proc.kill()
    proc.wait()


def test_the_lock_file_says_who_holds_it(tmp_path):
    with RunLock(tmp_path):
        info = json.loads((tmp_path / LOCK).read_text())
        assert info["pid"] == os.getpid() and info["host"] == HOST and info["started_utc"]
        with RunLock(tmp_path):   # re-entrant within the process (the CLI holds it while the Trainer runs)
            pass
        assert (tmp_path / LOCK).exists()
    assert not (tmp_path / LOCK).exists()


def test_a_second_train_into_a_folder_in_use_is_refused_at_once(tmp_path, holder, capsys):
    start = time.perf_counter()
    code, out, err = run_cli(["train", *TRAIN_ARGS, "--out", tmp_path / "run"], capsys)
    assert code == 1 and time.perf_counter() - start < 5
    assert f"in use by process {holder.pid} on {HOST}" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run" / "record.json").exists()
    # the holder is killed: its lock is stale and taken over
    holder.kill()
    holder.wait()
    assert (tmp_path / "run" / LOCK).exists()
    code, _, err = run_cli(["train", *TRAIN_ARGS, "--epochs", "1", "--out", tmp_path / "run"], capsys)
    assert code == 0, err
    assert not (tmp_path / "run" / LOCK).exists()  # released at the end


def test_the_library_trainer_takes_the_lock_too(tmp_path, holder):
    with pytest.raises(RunFolderError, match=f"in use by process {holder.pid}"):
        Trainer(tiny_config(), *tiny_splits(), out_dir=tmp_path / "run").fit()


def test_the_lock_is_held_while_training(tmp_path):
    seen = []
    trainer = Trainer(tiny_config(), *tiny_splits(), out_dir=tmp_path)
    trainer.add_callback("on_step", lambda t, step, parts: seen.append(json.loads((tmp_path / LOCK).read_text())))
    trainer.fit()
    assert seen and all(s["pid"] == os.getpid() and s["host"] == HOST for s in seen)
    assert not (tmp_path / LOCK).exists()


def test_locks_of_other_hosts_and_fresh_unreadable_locks_are_respected(tmp_path, monkeypatch):
    (tmp_path / LOCK).write_text(json.dumps({"pid": 1, "host": "elsewhere", "started_utc": "x"}))
    with pytest.raises(RunFolderError, match=f"delete {tmp_path / LOCK}"):
        RunLock(tmp_path).acquire()
    (tmp_path / LOCK).write_text("")  # being written by another process
    with pytest.raises(RunFolderError, match="being written"):
        RunLock(tmp_path).acquire()
    monkeypatch.setattr(runs, "UNREADABLE_LOCK_GRACE_S", 0.0)   # an empty lock older than the grace is stale
    with RunLock(tmp_path):
        assert json.loads((tmp_path / LOCK).read_text())["pid"] == os.getpid()


def test_a_finished_run_is_replaced_only_with_overwrite(tmp_path, capsys):
    out = tmp_path / "run"
    assert run_cli(["train", *TRAIN_ARGS, "--epochs", "1", "--out", out], capsys)[0] == 0
    record = (out / "record.json").read_bytes()
    code, _, err = run_cli(["train", *TRAIN_ARGS, "--epochs", "1", "--seed", "1", "--out", out], capsys)
    assert code == 1 and "holds an earlier run" in err and "--resume continues it, --overwrite replaces it" in err
    assert (out / "record.json").read_bytes() == record
    code, _, err = run_cli(["train", *TRAIN_ARGS, "--epochs", "1", "--seed", "1", "--overwrite", "--out", out], capsys)
    assert code == 0, err
    assert json.loads((out / "record.json").read_text())["seed"] == 1


def test_library_fit_refuses_an_earlier_run_unless_told(tmp_path):
    Trainer(tiny_config(), *tiny_splits(), out_dir=tmp_path).fit()
    with pytest.raises(RunFolderError, match="resume=True continues it, overwrite=True replaces it"):
        Trainer(tiny_config(seed=1), *tiny_splits(), out_dir=tmp_path).fit()
    assert Trainer(tiny_config(seed=1), *tiny_splits(), out_dir=tmp_path).fit(overwrite=True)["seed"] == 1


def test_compare_refuses_foreign_folders_and_replaces_its_own_only_with_overwrite(tmp_path, capsys):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("my notes")
    for extra in ([], ["--overwrite"]):
        code, _, err = run_cli([*COMPARE, "--losses", "infonce", "--out", foreign, *extra], capsys)
        assert code == 1 and "did not write (notes.txt)" in err
    assert (foreign / "notes.txt").read_text() == "my notes"

    out = tmp_path / "cmp"
    assert run_cli([*COMPARE, "--losses", "crossclr", "infonce", "--out", out], capsys)[0] == 0
    assert (out / "runs" / "crossclr" / "seed0" / "record.json").exists()
    code, _, err = run_cli([*COMPARE, "--losses", "infonce", "--out", out], capsys)
    assert code == 1 and "holds earlier results" in err and "--overwrite replaces it" in err
    code, _, err = run_cli([*COMPARE, "--losses", "infonce", "--out", out, "--overwrite"], capsys)
    assert code == 0, err
    assert not (out / "runs" / "crossclr").exists()   # no stale run folders of the earlier comparison
    assert list(json.loads((out / "results.json").read_text())["variants"]) == ["infonce"]


def test_demo_replaces_an_earlier_demo_but_nothing_else(tmp_path, capsys):
    out = tmp_path / "demo"
    out.mkdir()
    (out / MARKER).write_text(json.dumps({"command": "demo"}))
    (out / "results.json").write_text("{}")
    (out / "runs" / "crossclr" / "seed0").mkdir(parents=True)
    (out / "runs" / "crossclr" / "seed0" / "record.json").write_text("{}")
    with claim_output(out, "demo"):
        pass
    assert "replacing the previous demo results" in capsys.readouterr().out
    assert not (out / "results.json").exists() and not (out / "runs").exists()
    for command in ("compare", "ablate"):   # the same folder, made by another command
        (out / MARKER).write_text(json.dumps({"command": command}))
        (out / "results.json").write_text("{}")
        with pytest.raises(RunFolderError, match="holds earlier results"):
            with claim_output(out, "demo"):
                pass


@pytest.mark.parametrize("make_out", [
    lambda tmp: (tmp / "a_file").write_text("x") and tmp / "a_file",          # --out is a file
    lambda tmp: (tmp / "a_file").write_text("x") and tmp / "a_file" / "run",  # --out under a file
])
def test_an_unusable_out_is_found_before_any_training(tmp_path, capsys, make_out, monkeypatch):
    out = make_out(tmp_path)
    loaded = []
    monkeypatch.setattr("crossclr_lab.cli._load_splits", lambda args: loaded.append(1) or pytest.fail("loaded"))
    code, _, err = run_cli(["train", *TRAIN_ARGS, "--out", out], capsys)
    assert code == 1 and str(tmp_path / "a_file") in err and not loaded


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into read-only folders")
def test_a_read_only_out_is_found_before_any_training(tmp_path, capsys):
    tmp_path.chmod(0o555)
    try:
        code, _, err = run_cli(["train", *TRAIN_ARGS, "--out", tmp_path / "run"], capsys)
    finally:
        tmp_path.chmod(0o755)
    assert code == 1 and "cannot write to the output folder" in err
