"""Small shared helpers: seeding, device resolution, safe normalisation, RNG states, run records and their
provenance (file writing is :mod:`crossclr_lab.files`)."""

from __future__ import annotations

import platform
import random
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from crossclr_lab.checks import check_int
from crossclr_lab.files import repo_root


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch (CPU and all CUDA devices)."""
    check_int("seed", seed, 0)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def use_threads(threads: int) -> int:
    """Run torch on ``threads`` CPU threads and return it. The kit's models are small: they run fastest on 1, and 1
    is immune to other processes competing for the cores (the default of the command line and the notebooks)."""
    torch.set_num_threads(check_int("threads", threads, 1))
    return threads


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; any other value is checked and returned as a device."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as err:
        raise ValueError(f"unknown device {device!r}; use 'auto', 'cpu' or 'cuda[:N]'") from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available; use device='auto' or 'cpu'")
    return dev


def l2_normalize(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """``F.normalize(x, dim)`` that stays exact for huge finite values: each row is first divided by the power of
    two nearest above its largest absolute value, so its norm cannot overflow (in float32 a row of 32 values
    overflows from ~3e18). Dividing by a power of two is exact, so the result equals ``F.normalize`` bit for bit
    wherever that does not overflow; the scale is detached (the gradient is ``F.normalize``'s). Zero rows stay
    zero."""
    biggest = x.detach().abs().amax(dim=dim, keepdim=True).float()
    _, exponent = torch.frexp(biggest)   # biggest = mantissa * 2**exponent, mantissa in [0.5, 1); 0 -> exponent 0
    scale = torch.ldexp(torch.ones_like(biggest), exponent).to(x.dtype)
    return torch.nn.functional.normalize(x / scale, dim=dim)


def library_versions() -> dict[str, str]:
    """Versions of the libraries a result depends on, for run records."""
    from crossclr_lab import __version__

    return {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
            "crossclr_lab": __version__}


def rng_states() -> dict:
    """All RNG states as tensors and plain types (loadable with ``torch.load(weights_only=True)``)."""
    np_state = np.random.get_state(legacy=False)
    states = {
        "python": random.getstate(),
        "numpy": {"bit_generator": np_state["bit_generator"],
                  "key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
                  "pos": int(np_state["state"]["pos"]), "has_gauss": int(np_state["has_gauss"]),
                  "gauss": float(np_state["gauss"])},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    return states


def set_rng_states(states: dict) -> None:
    """Restore the states saved by :func:`rng_states`."""
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    n = states["numpy"]
    np.random.set_state({"bit_generator": n["bit_generator"], "has_gauss": n["has_gauss"], "gauss": n["gauss"],
                         "state": {"key": n["key"].numpy().astype(np.uint32), "pos": n["pos"]}})
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


@lru_cache(maxsize=1)
def git_revision() -> dict | None:
    """``{"commit": sha, "dirty": bool}`` of the git checkout this package runs from (``dirty``: tracked files
    differ from the commit), or ``None`` when it is not run from a checkout or git is not installed."""
    root = repo_root()
    if root is None:
        return None

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    top = git("rev-parse", "--show-toplevel")
    if top is None or Path(top).resolve() != root:  # installed inside some other repository: not ours
        return None
    commit, status = git("rev-parse", "HEAD"), git("status", "--porcelain", "--untracked-files=no")
    return None if commit is None else {"commit": commit, "dirty": bool(status)}


def run_provenance(device: str | torch.device, world_size: int = 1, data: dict | None = None) -> dict:
    """What a result depends on besides its configuration: library versions, the git commit (when run from a
    checkout), the device, the number of processes and ``data`` (per split, see
    :func:`crossclr_lab.data.provenance.describe`)."""
    return {"device": str(device), "world_size": world_size, "versions": library_versions(), "git": git_revision(),
            "data": dict(data or {})}


def new_run_record(config: dict, seed: int, device: str | torch.device, world_size: int = 1,
                   data: dict | None = None, **extra: Any) -> dict:
    """The fields every run record (``runs/NAME/record.json``) starts with: config, seed, ``started_utc`` (now,
    unless given in ``extra``), the :func:`run_provenance` fields (device, world size, versions, git, data) and
    ``extra``."""
    import datetime

    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    return {"config": config, "seed": seed, **run_provenance(device, world_size, data), "started_utc": now,
            **extra}
