"""Measuring on a shared, noisy machine: alternating timings, medians, paired ratios, peak memory, environment.

Every timing group runs its functions A, B, C, ... in rounds (the order rotated each round), so drift and
other people's load hit all of them alike; a ratio is the median of the per-round ratios.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import torch

REPO = Path(__file__).resolve().parents[1]


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def _calibrate(fn: Callable[[], object], min_sample_s: float) -> int:
    """How many calls make one sample last at least ``min_sample_s``. The first call warms up; a second,
    timed call is made only when the first was short (a slow case costs one extra call, not two)."""
    start = time.perf_counter()
    fn()
    once = time.perf_counter() - start
    if once < min_sample_s:
        start = time.perf_counter()
        fn()
        once = max(time.perf_counter() - start, 1e-7)
    return max(1, int(min_sample_s / once + 0.999))


def time_alternating(fns: dict[str, Callable[[], object]], reps: int,
                     min_sample_s: float = 0.01) -> dict[str, list[float]]:
    """Seconds per call of each function: ``reps`` samples each, taken in rotating round-robin order.

    Each sample averages enough calls to last ``min_sample_s`` (timer noise on sub-millisecond cases).
    Returns ``name -> [reps]`` seconds per call.
    """
    if reps < 1:
        raise ValueError(f"reps must be >= 1, got {reps}")
    names = list(fns)
    numbers = {name: _calibrate(fns[name], min_sample_s) for name in names}
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(reps):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            fn, number = fns[name], numbers[name]
            start = time.perf_counter()
            for _ in range(number):
                fn()
            samples[name].append((time.perf_counter() - start) / number)
    return samples


def paired_ratio(a: list[float], b: list[float]) -> float:
    """Median over rounds of ``a[r] / b[r]``: both were measured in the same round, so shared load cancels."""
    return median([x / y for x, y in zip(a, b)])


# -- memory ------------------------------------------------------------------------------------------------
def _status_kib(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def peak_rss_delta(fn: Callable[[], object]) -> int:
    """Bytes the process's resident set grew to above its size before ``fn()`` (Linux: the high-water
    mark VmHWM is reset through ``/proc/self/clear_refs``). Run it in a fresh process (see
    :func:`run_worker`), where the allocator holds no freed memory that ``fn`` could reuse unseen."""
    with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
        f.write("5")
    before = _status_kib("VmRSS")
    fn()
    return (_status_kib("VmHWM") - before) * 1024


def worker_env(threads: int) -> dict:
    """Environment for a measuring subprocess: glibc returns every block >= 64 KiB to the system on free
    (a fixed mmap threshold), so the resident set follows the live tensors."""
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536", MALLOC_TRIM_THRESHOLD_="0",
               OMP_NUM_THREADS=str(threads), PYTHONPATH=str(REPO))
    return env


def run_worker(module: str, args: dict, threads: int, timeout: float = 600,
               address_limit_bytes: int | None = None) -> dict:
    """Run ``python -m module`` in a fresh process with ``args`` as JSON on stdin; it prints one JSON
    object as its last stdout line. Returns it, or ``{"error": ...}`` when the process failed."""
    cmd = [sys.executable, "-m", module]
    if address_limit_bytes is not None:
        args = {**args, "address_limit_bytes": address_limit_bytes}
    try:
        proc = subprocess.run(cmd, input=json.dumps(args), capture_output=True, text=True, timeout=timeout,
                              env=worker_env(threads), cwd=REPO)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"exit {proc.returncode}: {tail[:300]}"}
    return json.loads(lines[-1])


# -- environment -------------------------------------------------------------------------------------------
def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO,
                             timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def auto_threads() -> int:
    """Threads the machine allows now: the available CPUs less those other processes keep busy (the 1-minute
    load average, rounded), at least 1. Oversubscribed OpenMP threads wait on each other and time noise."""
    cpus = available_cpus()
    return max(1, min(cpus, cpus - round(os.getloadavg()[0])))


def environment(threads: int, device: torch.device) -> dict:
    """Machine, versions, date: what a reader needs to compare two benchmark files."""
    import numpy as np

    from .peers import peer_versions

    env = {
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpu": _cpu_model(), "cpus_available": available_cpus(), "torch_threads": threads,
                    "platform": platform.platform(), "memory_gib": round(os.sysconf("SC_PAGE_SIZE")
                                                                         * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)},
        "device": str(device),
        "versions": {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
                     **peer_versions()},
        "git_commit": _git_commit(),
    }
    if device.type == "cuda":
        env["machine"]["gpu"] = torch.cuda.get_device_name(device)
    return env
