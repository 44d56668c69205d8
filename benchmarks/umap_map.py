"""UMAP map time for a notebook-sized map: 2 x 1000 points x 256-d (video and text embeddings together),
``metric="precomputed"`` on sklearn's pairwise distances. Measured in a fresh process: the import, the
first fit (numba compiles then) and a second, warm fit."""

from __future__ import annotations

import importlib.util
import time

from .harness import run_worker

POINTS, DIM = 2 * 1000, 256


def measure(args: dict) -> dict:
    """Worker side: ``args`` has n, d, threads."""
    import numpy as np

    start = time.perf_counter()
    import umap
    from sklearn.metrics import pairwise_distances
    import_s = time.perf_counter() - start
    x = np.random.default_rng(0).standard_normal((args["n"], args["d"])).astype(np.float32)
    out = {"import_s": import_s}
    for key, seed in (("first_fit_s", 0), ("warm_fit_s", 1)):
        start = time.perf_counter()
        dist = pairwise_distances(x, metric="cosine")
        umap.UMAP(metric="precomputed", random_state=seed, n_jobs=1).fit_transform(dist)
        out[key] = time.perf_counter() - start
    return out


def run(quick: bool, threads: int, log=print) -> dict:
    if quick:
        return {"skipped": "quick mode (the first UMAP call in a process compiles for ~10 s)"}
    if importlib.util.find_spec("umap") is None:
        return {"skipped": "umap-learn is not installed"}
    out = run_worker("benchmarks.worker", {"section": "umap", "n": POINTS, "d": DIM, "threads": threads}, threads)
    log(f"  umap {POINTS}x{DIM}: {out}")
    return {"points": POINTS, "d": DIM, "metric": "precomputed (cosine)", **out}
