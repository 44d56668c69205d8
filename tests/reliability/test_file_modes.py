"""Issue 12, items 8 and 10: written files respect the umask, a killed writer's temp files are cleaned on the
next write, and a full disk is reported as such (the previous file intact)."""

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from fixtures.tiny_runs import TRAIN_ARGS, run_cli
from matplotlib.figure import Figure

from crossclr_lab import notebooks as nbs
from crossclr_lab.files import atomic_savefig, atomic_torch_save, atomic_write_json, atomic_write_text
from crossclr_lab.training.checkpoint import save_checkpoint

REPO = Path(__file__).resolve().parents[2]
WRITERS = {
    "json": lambda p: atomic_write_json(p / "record.json", {"a": 1}),
    "text": lambda p: atomic_write_text(p / "results.md", "x"),
    "torch": lambda p: atomic_torch_save({"w": torch.zeros(2)}, p / "cache.pt"),
    "checkpoint": lambda p: save_checkpoint({"w": torch.zeros(2)}, p / "checkpoint.pt"),
    "figure": lambda p: atomic_savefig(Figure(figsize=(1, 1)), p / "fig.png"),
}


@pytest.fixture
def umask():
    old = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(old)


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
@pytest.mark.parametrize("kind", list(WRITERS))
def test_files_get_the_mode_of_the_umask(tmp_path, umask, kind, mask, mode):
    umask(mask)
    path = WRITERS[kind](tmp_path)
    assert path.stat().st_mode & 0o777 == mode


def test_regenerated_notebooks_get_the_mode_of_the_umask(tmp_path, umask):
    (tmp_path / "99_scratch.py").write_text('# %% [markdown]\n# # 99 — Scratch\n\n# %% tags=["parameters"]\nn = 1\n')
    umask(0o022)
    (changed,) = nbs.sync(nbs.discover(tmp_path))
    assert changed.stat().st_mode & 0o777 == 0o644


KILLED_WRITER = """
import sys, time
from crossclr_lab import files
files.os.replace = lambda *a: (print("written", flush=True), time.sleep(120))   # killed before the rename
files.atomic_write_json(sys.argv[1], {"half": "written"})
"""


def test_temp_files_of_a_killed_writer_are_removed_by_the_next_write(tmp_path):
    target = tmp_path / "record.json"
    atomic_write_json(target, {"epoch": 1})
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(target)], cwd=REPO, stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout.readline().strip() == "written"
        (stray,) = tmp_path.glob(".record.json.*.tmp")
        atomic_write_json(target, {"epoch": 2})      # the writer still runs: its temp file is left alone
        assert stray.exists()
    finally:
        proc.kill()
        proc.wait()
    atomic_write_json(target, {"epoch": 3})          # now it is dead: cleaned
    assert sorted(p.name for p in tmp_path.iterdir()) == ["record.json"]
    assert target.read_text().count('"epoch": 3') == 1


def _disk_full(monkeypatch, only: str = ""):
    """Writes fail with ENOSPC (where the data reaches the disk), for files whose name contains ``only``."""
    real = os.fsync

    def fsync(fd):
        if only in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)


@pytest.mark.parametrize("kind", ["json", "checkpoint"])
def test_a_full_disk_is_reported_and_leaves_the_previous_file(tmp_path, monkeypatch, kind):
    path = WRITERS[kind](tmp_path)
    before = path.read_bytes()
    _disk_full(monkeypatch)
    with pytest.raises(OSError, match=f"no space left on the device while writing {path}") as err:
        WRITERS[kind](tmp_path)
    assert err.value.errno == errno.ENOSPC and "previous version, if any, is intact" in str(err.value)
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_cli_reports_a_disk_filling_up_during_training_in_one_line(tmp_path, monkeypatch, capsys):
    _disk_full(monkeypatch, only="checkpoint.pt")
    code, _, err = run_cli(["train", *TRAIN_ARGS, "--epochs", "1", "--out", tmp_path / "run"], capsys)
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert f"no space left on the device while writing {tmp_path / 'run' / 'checkpoint.pt'}" in err
    assert "iostream" not in err and not list((tmp_path / "run").glob(".*.tmp"))
