"""Run folders: one writer at a time, nothing finished replaced unless asked, unusable folders found up front.

A run folder is what ``crossclr-lab train|compare|ablate|demo --out DIR`` (or ``Trainer(out_dir=DIR)``,
``run_comparison(out_dir=DIR)``) writes: a run's ``record.json`` and ``checkpoint.pt``; a comparison's
``results.json``, ``results.md``, figures (``*.png``) and ``runs/<variant>/seed<k>/``. Rules:

- **One writer**: a writer holds ``DIR/.lock`` (its pid, host and command) while it runs; a second process is
  refused at once. A lock left by a process that no longer runs on this host is stale and taken over (a lock
  of another host is never guessed about: the message says which file to delete).
- **Nothing replaced silently**: a folder holding an earlier run is refused unless the command says
  ``--overwrite`` (which deletes only what crossclr-lab writes) or ``--resume`` (train); a folder holding
  anything else ("foreign" files) is refused by the command line even with ``--overwrite``.
- **Usable up front**: taking the lock is the write test, before any data is loaded or model trained.

Example::

    with claim_output("runs/x", command="train", overwrite=False):   # RunFolderError when busy/taken
        ...                                                          # write the run
"""

from __future__ import annotations

import contextlib
import datetime
import fnmatch
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Iterator

from crossclr_lab import distributed
from crossclr_lab.files import HOST, atomic_write_json, pid_alive

LOCK = ".lock"
MARKER = ".crossclr-lab.json"   # {"command": ...}: which command wrote a results folder (see claim_output)
RUN_FILES = ("record.json", "checkpoint.pt", "history.csv", "model.safetensors", "model.json")
OUR_FILES = (*RUN_FILES, "results.json", "results.md", "captioning.json", "captioning.md", "*.png", LOCK, MARKER,
             ".*.tmp")
OUR_DIRS = ("runs", "encoders")  # a comparison's per-run folders; caption's encoder comparison (OUR_FILES only)
UNREADABLE_LOCK_GRACE_S = 10.0  # a lock file being written is briefly empty; after this it counts as stale


class RunError(Exception):
    """A run cannot give a correct result; the message says what to do (the command line exits 1)."""


class RunFolderError(RunError):
    """The output folder is in use, holds an earlier run, holds foreign files, or cannot be written."""


_held: dict[Path, int] = {}  # folders this process holds the lock of -> nesting depth


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _read_lock(path: Path) -> dict | None:
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        return info if isinstance(info, dict) and isinstance(info.get("pid"), int) else None
    except (OSError, ValueError):
        return None


def _stale(path: Path, info: dict | None) -> bool:
    """A lock nobody holds: its process no longer runs on this host (or is this process, which does not hold
    it), or it is unreadable and older than :data:`UNREADABLE_LOCK_GRACE_S`."""
    if info is None:
        try:
            return time.time() - path.stat().st_mtime > UNREADABLE_LOCK_GRACE_S
        except FileNotFoundError:
            return True
    return info.get("host") == HOST and (info["pid"] == os.getpid() or not pid_alive(info["pid"]))


def _unwritable(folder: Path, err: OSError) -> RunFolderError:
    return RunFolderError(f"cannot write to the output folder {folder} ({err.strerror or err}); "
                          "choose a folder you can write to")


def _command_line() -> str:
    """This process's command line, shortened (``python -m crossclr_lab`` shows as ``crossclr_lab``)."""
    program = Path(sys.argv[0]) if sys.argv and sys.argv[0] else Path("python")
    name = program.parent.name if program.name == "__main__.py" else program.name
    return " ".join([name, *sys.argv[1:]])[:300]


class RunLock:
    """``with RunLock(folder):`` holds ``folder/.lock`` (creating the folder), or raises :class:`RunFolderError`
    naming the process that holds it. Re-entrant within a process (nested ``with`` of the same folder)."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.path = self.folder / LOCK

    def acquire(self) -> None:
        if self.folder.exists() and not self.folder.is_dir():
            raise RunFolderError(f"the output folder {self.folder} is a file; pass a folder")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise _unwritable(self.folder, err) from None
        key = self.folder.resolve()
        if key in _held:
            _held[key] += 1
            return
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
            except FileExistsError:
                info = _read_lock(self.path)
                if not _stale(self.path, info):
                    holder = ("another process (its lock file is being written)" if info is None else
                              f"process {info['pid']} on {info.get('host')} since {info.get('started_utc')} "
                              f"({info.get('command', '?')})")
                    raise RunFolderError(f"{self.folder} is in use by {holder}; wait for it to finish or choose "
                                         f"another folder (if that process no longer runs, delete {self.path})"
                                         ) from None
                with contextlib.suppress(FileNotFoundError):
                    self.path.unlink()  # stale: its writer was killed
                continue
            except OSError as err:
                raise _unwritable(self.folder, err) from None
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({"pid": os.getpid(), "host": HOST, "started_utc": _now(),
                           "command": _command_line()}, f)
            _held[key] = 1
            return
        raise RunFolderError(f"could not take the lock {self.path}: other processes keep replacing it")

    def release(self) -> None:
        key = self.folder.resolve()
        if key not in _held:
            return
        _held[key] -= 1
        if _held[key] == 0:
            del _held[key]
            info = _read_lock(self.path)
            if info is not None and info["pid"] == os.getpid() and info.get("host") == HOST:
                with contextlib.suppress(FileNotFoundError):
                    self.path.unlink()

    def __enter__(self) -> "RunLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _ours(path: Path) -> bool:
    """Whether ``path`` (a folder entry) is something crossclr-lab writes."""
    if path.is_dir() and not path.is_symlink():
        return path.name in OUR_DIRS and all(
            p.is_dir() or any(fnmatch.fnmatch(p.name, pat) for pat in OUR_FILES) for p in path.rglob("*"))
    return any(fnmatch.fnmatch(path.name, pattern) for pattern in OUR_FILES)


def contents(folder: str | os.PathLike) -> tuple[list[str], list[str]]:
    """``(ours, foreign)``: the names in ``folder`` that crossclr-lab writes (results, records, checkpoints,
    figures, per-run folders; the lock, marker and temp files left out) and all others. Empty when it is absent."""
    folder = Path(folder)
    if not folder.is_dir():
        return [], []
    ours, foreign = [], []
    for entry in sorted(folder.iterdir()):
        if entry.name in (LOCK, MARKER) or fnmatch.fnmatch(entry.name, ".*.tmp"):
            continue
        (ours if _ours(entry) else foreign).append(entry.name)
    return ours, foreign


def has_run(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` holds a run's record or checkpoint."""
    return any((Path(folder) / name).exists() for name in RUN_FILES)


def clear(folder: str | os.PathLike) -> list[str]:
    """Delete what crossclr-lab wrote in ``folder`` (never foreign files); returns the names deleted."""
    ours, _ = contents(folder)
    for name in ours:
        path = Path(folder) / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    return ours


def _summary(names: list[str], limit: int = 6) -> str:
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _marker_command(folder: Path) -> str | None:
    try:
        return json.loads((folder / MARKER).read_text(encoding="utf-8")).get("command")
    except (OSError, ValueError, AttributeError):
        return None


def _prepare(folder: Path, command: str, overwrite: bool, resume: bool, log) -> None:
    """The policy of :func:`claim_output`, run while the lock is held."""
    ours, foreign = contents(folder)
    if foreign:
        raise RunFolderError(f"{folder} holds files crossclr-lab did not write ({_summary(foreign)}); pass an empty "
                             "or new folder as --out")
    if resume:
        return
    if ours:
        if command == "demo" and not overwrite and _marker_command(folder) == "demo":
            overwrite = True
            log(f"note: replacing the previous demo results in {folder}")
        if not overwrite:
            what = "an earlier run" if has_run(folder) else "earlier results"
            hint = "--resume continues it, " if command == "train" and has_run(folder) else ""
            raise RunFolderError(f"{folder} holds {what} ({_summary(ours)}); {hint}--overwrite replaces it, or "
                                 "choose another --out")
        clear(folder)
    if command != "train":   # a run folder is recognised by its record; results folders by the marker
        atomic_write_json(folder / MARKER, {"command": command, "started_utc": _now()})


@contextlib.contextmanager
def _held_on_rank0(folder: Path, prepare=None) -> Iterator[None]:
    """``RunLock(folder)`` (then ``prepare()``) on rank 0, every rank raising the same error when that fails."""
    lock, error = RunLock(folder), None
    if distributed.is_main_process():
        try:
            lock.acquire()
        except RunFolderError as err:
            error = str(err)
        else:
            try:
                if prepare is not None:
                    prepare()
            except (RunFolderError, OSError) as err:
                lock.release()
                error = str(err) if isinstance(err, RunFolderError) else str(_unwritable(folder, err))
    errors = [e for e in distributed.all_gather_objects(error) if e]
    if errors:
        raise RunFolderError(errors[0])
    try:
        yield
    finally:
        if distributed.is_main_process():
            lock.release()


@contextlib.contextmanager
def claim_output(folder: str | os.PathLike, command: str, overwrite: bool = False, resume: bool = False,
                 log=print) -> Iterator[Path]:
    """Hold ``folder`` for a command-line run (``command``: train, compare, ablate or demo) and apply the rules of
    this module: busy, unwritable or foreign folders are refused; an earlier run or results are refused unless
    ``overwrite`` (deleted first) or ``resume``. ``demo`` replaces the results of an earlier ``demo`` by itself
    (so the README's ``make demo`` can run again), with a note.

    Under torchrun only rank 0 touches the folder; every rank raises the same :class:`RunFolderError`.
    """
    folder = Path(folder)
    with _held_on_rank0(folder, lambda: _prepare(folder, command, overwrite, resume, log)):
        yield folder


def held(folder: str | os.PathLike | None):
    """``with held(folder):`` holds ``RunLock(folder)`` on rank 0, every rank agreeing on a refusal; nothing when
    ``folder`` is None."""
    return contextlib.nullcontext() if folder is None else _held_on_rank0(Path(folder))
