"""UMAP map time for a notebook-sized map: 2 x 1000 points x 256-d (video and text embeddings together),
``metric="precomputed"`` on sklearn's pairwise distances. Measured in a fresh process each: the import, the
first fit (numba compiles then) and a second, warm fit, for the kit's
:func:`~crossclr_lab.lab.embedding_maps.joint_umap` (the exact neighbours handed to UMAP) and for UMAP finding its
own neighbours (the same map)."""

from __future__ import annotations

import importlib.util
import time

from .harness import run_worker

POINTS, DIM = 2 * 1000, 256


def measure(args: dict) -> dict:
    """Worker side: ``args`` has n, d, threads and own_neighbours (UMAP searches them itself)."""
    import warnings

    import numpy as np

    start = time.perf_counter()
    import umap
    from sklearn.metrics import pairwise_distances

    from crossclr_lab.lab.embedding_maps import joint_umap
    import_s = time.perf_counter() - start
    x = np.random.default_rng(0).standard_normal((args["n"], args["d"])).astype(np.float32)
    half = args["n"] // 2
    out = {"import_s": import_s}
    for key, seed in (("first_fit_s", 0), ("warm_fit_s", 1)):
        start = time.perf_counter()
        if args["own_neighbours"]:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                umap.UMAP(metric="precomputed", random_state=seed).fit_transform(pairwise_distances(x, metric="cosine"))
        else:
            joint_umap(x[:half], x[half:], random_state=seed)
        out[key] = time.perf_counter() - start
    return out


def run(quick: bool, threads: int, log=print) -> dict:
    if quick:
        return {"skipped": "quick mode (the first UMAP call in a process compiles for ~10 s)"}
    if importlib.util.find_spec("umap") is None:
        return {"skipped": "umap-learn is not installed"}
    out = {}
    for name, own in (("kit", False), ("own_neighbours", True)):
        out[name] = run_worker("benchmarks.worker", {"section": "umap", "n": POINTS, "d": DIM, "threads": threads,
                                                     "own_neighbours": own}, threads)
        log(f"  umap {POINTS}x{DIM} ({name}): {out[name]}")
    return {"points": POINTS, "d": DIM, "metric": "precomputed (cosine)", **out}
