"""Issue 23, item 3: a rebuild of the shipped checkpoints that is killed (kill -9), or whose result does not verify,
leaves the shipped files as they were; the next rebuild cleans up after it."""

import gzip
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from fixtures.tiny_runs import flip_bytes

from crossclr_lab.files import HOST, MANIFEST, repo_root, write_manifest
from crossclr_lab.training.pretrained import SHIPPED_DIR
from tools.build_pretrained import _verify, recover


def _files(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture
def shipped(tmp_path):
    root = tmp_path / "pretrained"
    shutil.copytree(SHIPPED_DIR, root)
    return root


@pytest.mark.slow
def test_a_rebuild_killed_mid_training_leaves_the_shipped_files_as_they_were(shipped):
    before = _files(shipped)
    env = {**os.environ, "PYTHONPATH": str(repo_root()), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "tools.build_pretrained", "--out", str(shipped)], cwd=repo_root(),
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    work = shipped.parent / f".pretrained.build-{proc.pid}-{HOST}"
    deadline = time.monotonic() + 300
    try:
        while not list(work.rglob("*.pt")):         # the first new model is written: the rebuild is half done
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "the rebuild did not write its first model within 300 s"
            time.sleep(0.2)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert _files(shipped) == before                # nothing deleted, nothing half-replaced
    assert work.is_dir()                            # the leftover: outside the shipped folder, ignored by git
    ignored = subprocess.run(["git", "check-ignore", "-q", f"data/{work.name}/"], cwd=repo_root())
    assert ignored.returncode == 0
    recover(shipped, log=lambda line: None)         # what the next rebuild does first
    assert not work.exists() and _files(shipped) == before


def test_a_kill_between_the_two_renames_is_undone_by_the_next_rebuild(shipped):
    before = _files(shipped)
    pid = _dead_pid()
    shipped.rename(shipped.parent / f".pretrained.old-{pid}-{HOST}")      # the old folder moved away ...
    (shipped.parent / f".pretrained.build-{pid}-{HOST}").mkdir()         # ... the new one not yet in place
    lines = []
    recover(shipped, log=lines.append)
    assert _files(shipped) == before and "restored" in lines[0]
    assert [p.name for p in shipped.parent.iterdir()] == ["pretrained"]


def test_a_rebuild_of_the_same_folder_still_running_is_refused(shipped):
    (shipped.parent / f".pretrained.build-{os.getppid()}-{HOST}").mkdir()
    with pytest.raises(RuntimeError, match="another rebuild"):
        recover(shipped, log=lambda line: None)


def test_a_rebuilt_folder_that_does_not_verify_is_never_swapped_in(shipped):
    rel = sorted(p.relative_to(shipped).as_posix() for p in shipped.rglob("*.pt"))
    victim = shipped / rel[0]
    flip_bytes(victim, victim.stat().st_size // 2, 4)
    write_manifest(shipped, rel)                    # the manifest agrees, the checkpoint's own sha256 does not
    with pytest.warns(UserWarning), pytest.raises(RuntimeError, match="shipped files were left unchanged"):
        _verify(shipped, rel)
    (shipped / MANIFEST).write_text("")
    with pytest.raises(ValueError, match="does not list"):
        _verify(shipped, rel)


def test_a_rebuilt_runs_file_that_would_not_be_used_is_never_swapped_in(shipped):
    listed = sorted(p.relative_to(shipped).as_posix() for p in shipped.rglob("*") if p.is_file()
                    and p.name != MANIFEST and p.name != "README.md")
    runs = shipped / "emoji_motion" / "runs.json.gz"
    runs.write_bytes(gzip.compress(b'{"format": 2, "code": 0, "runs": {}}'))
    write_manifest(shipped, listed)
    with pytest.raises(RuntimeError, match="stale .*left unchanged"):
        _verify(shipped, listed)

