"""Files: atomic writes, sha256 of a file, the one ``MANIFEST.sha256`` reader and writer, plain path names and the
repository root.

Every file the kit writes goes through :func:`atomic_write_bytes` and friends (temp file beside the target,
flushed, renamed into place). Every folder format with a manifest (Emoji Motion, folder datasets, the shipped
models) reads it with :func:`read_manifest` and checks it with :func:`verify_manifest`: lines
``<64 lowercase hex>  <relative/posix/path>``, the path inside the folder (no ``..``, not absolute, no ``\\``).

Example::

    write_manifest(folder, ["card.json", "train/video.npy"])
    verify_manifest(folder, fix="export the folder again")   # {"card.json": "9f2c...", ...}
"""

from __future__ import annotations

import contextlib
import errno
import glob
import hashlib
import json
import os
import re
import socket
import tempfile
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, Callable, Iterable

import numpy as np
import torch

MANIFEST = "MANIFEST.sha256"
_DIGEST = re.compile(r"[0-9a-f]{64}")


@lru_cache(maxsize=1)
def repo_root() -> Path | None:
    """The source checkout this package runs from (the folder holding ``pyproject.toml`` beside the package), or
    ``None`` for an installed package."""
    root = Path(__file__).resolve().parents[1]
    return root if (root / "pyproject.toml").is_file() and (root / "crossclr_lab").is_dir() else None


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def plain_name(name: str, what: str) -> str:
    """``name`` when it is one plain path component (no separator, not ``.``/``..``, not empty, no NUL);
    ``ValueError`` naming ``what`` otherwise. For every name that becomes part of a path."""
    if (not isinstance(name, str) or name in ("", ".", "..") or "/" in name or "\\" in name or "\0" in name
            or name != name.strip()):
        raise ValueError(f"{what} {name!r} cannot be used in a file path: use one plain name "
                         "(letters, digits, '-', '_', '.'; no '/', '\\' or '..')")
    return name


def _manifest_path(rel: str) -> bool:
    """Whether ``rel`` names a file inside its folder: relative, POSIX, no ``..`` or ``.`` parts, no ``\\``."""
    if not rel or "\\" in rel or rel.startswith("/") or re.match(r"[A-Za-z]:", rel):
        return False
    parts = PurePosixPath(rel).parts
    return bool(parts) and all(p not in ("", ".", "..") for p in parts) and "/".join(parts) == rel


def read_manifest(folder: str | os.PathLike, fix: str) -> dict[str, str]:
    """``relative path -> sha256`` from ``folder/MANIFEST.sha256``. ``FileNotFoundError`` when it is missing,
    ``ValueError`` naming the line for a bad line (not ``<sha256>  <path>``, a path outside the folder, a path
    listed twice). ``fix`` says what to do, e.g. ``"rebuild with: ..."``."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; {fix}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{path} is damaged (not UTF-8 text); {fix}") from None
    entries: dict[str, str] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        digest, sep, rel = line.partition("  ")
        if not sep or not _DIGEST.fullmatch(digest):
            raise ValueError(f"{path} line {lineno} is not '<sha256>  <path>': {line!r}; {fix}")
        if not _manifest_path(rel):
            raise ValueError(f"{path} line {lineno} names {rel!r}, which is not a relative path inside the folder "
                             f"(no '..', not absolute); {fix}")
        if rel in entries:
            raise ValueError(f"{path} line {lineno} lists {rel!r} a second time; {fix}")
        entries[rel] = digest
    return entries


def verify_manifest(folder: str | os.PathLike, fix: str, required: Iterable[str] = ()) -> dict[str, str]:
    """:func:`read_manifest`, then check that it lists every ``required`` file and that each listed file exists
    and has its sha256. Returns the entries; ``FileNotFoundError`` / ``ValueError`` naming the file otherwise."""
    folder = Path(folder)
    entries = read_manifest(folder, fix)
    unlisted = [r for r in required if r not in entries]
    if unlisted:
        raise ValueError(f"{folder / MANIFEST} does not list {unlisted}; {fix}")
    for rel, digest in entries.items():
        file = folder / rel
        if not file.is_file():
            raise FileNotFoundError(f"{file} is listed in {folder / MANIFEST} but missing; {fix}")
        if sha256_file(file) != digest:
            raise ValueError(f"{file} is damaged or was changed (its sha256 does not match {folder / MANIFEST}); "
                             f"{fix}")
    return entries


def write_manifest(folder: str | os.PathLike, files: Iterable[str]) -> Path:
    """Write ``folder/MANIFEST.sha256`` listing ``files`` (paths relative to ``folder``, sorted), atomically."""
    folder = Path(folder)
    names = sorted(files)
    bad = [r for r in names if not _manifest_path(r)]
    if bad:
        raise ValueError(f"manifest entries must be relative paths inside {folder}: {bad}")
    return atomic_write_text(folder / MANIFEST, "".join(f"{sha256_file(folder / r)}  {r}\n" for r in names))


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (a process of another user counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:40] or "host"
_TEMP = re.compile(r"(?P<pid>\d+)-(?P<host>[A-Za-z0-9-]+)\.[^.]+\.tmp")
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def current_umask() -> int:
    """The process's umask: from ``/proc/self/status`` on Linux, else by setting and restoring it (which other
    threads could observe for an instant)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _remove_stale_temps(path: Path) -> None:
    """Delete temp files of ``path`` left by a writer that was killed: those named with the pid of a process
    that no longer runs on this host (a live writer's temp file is never touched)."""
    prefix = f".{path.name}."
    for tmp in path.parent.glob(glob.escape(prefix) + "*.tmp"):
        m = _TEMP.fullmatch(tmp.name[len(prefix):])
        if m and m["host"] == HOST and int(m["pid"]) != os.getpid() and not pid_alive(int(m["pid"])):
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()


def _atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> Path:
    """Call ``write(f)`` on a binary temp file beside ``path``, flush it to disk, then ``os.replace`` it into place.

    The file gets the mode a plain ``open`` would give (0666 minus the umask, e.g. 0644); temp files left by an
    earlier writer that was killed are removed first; a full disk is reported as such, and the previous file
    (if any) is left unchanged.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}-{HOST}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
        with os.fdopen(fd, "wb") as f:
            fd = -1
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException as err:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        if isinstance(err, OSError) and err.errno in DISK_FULL:
            raise OSError(err.errno, f"no space left on the device while writing {path}; nothing was replaced "
                          "(the previous version, if any, is intact): free some space and run again") from err
        raise
    return path


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (best effort: not every platform can open a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (temp file + rename)."""
    return _atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    return _atomic_write(path, lambda f: f.write(data))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` to ``path`` atomically, so a killed run never leaves a half-written checkpoint."""
    return _atomic_write(path, lambda f: torch.save(obj, f))


def atomic_savefig(fig, path: str | os.PathLike, **kwargs) -> Path:
    """Save a matplotlib figure atomically; the format follows ``path``'s suffix."""
    fmt = Path(path).suffix.lstrip(".") or "png"
    return _atomic_write(path, lambda f: fig.savefig(f, format=fmt, **kwargs))


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.integer, np.floating)):
        return obj.item()
    if isinstance(obj, torch.Tensor) and obj.numel() == 1:
        return obj.item()
    if isinstance(obj, (Path, torch.device, torch.dtype)):
        return str(obj)
    raise TypeError(f"object of type {type(obj).__name__} is not JSON serialisable")




__all__ = ["MANIFEST", "repo_root", "sha256_file", "plain_name", "read_manifest", "verify_manifest", "write_manifest",
           "atomic_write_text", "atomic_write_bytes", "atomic_write_json", "atomic_torch_save", "atomic_savefig",
           "DISK_FULL", "HOST", "pid_alive"]
