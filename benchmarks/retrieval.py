"""Retrieval metrics (``crossclr_lab.metrics.retrieval_metrics``, both directions) on N random pairs:
time and peak memory, each size in a fresh process (peak resident-set growth, as in :mod:`.loss_memory`)."""

from __future__ import annotations

import time

import torch

from .harness import median, peak_rss_delta, run_worker

GOAL_N, GOAL_S = 10000, 2.0
D = 256


def measure(args: dict) -> dict:
    """Worker side: ``args`` has n, d, reps, threads."""
    from crossclr_lab.metrics import retrieval_metrics

    torch.set_num_threads(args["threads"])
    g = torch.Generator().manual_seed(0)
    n, d = args["n"], args["d"]
    video = torch.randn(n, d, generator=g)
    text = video + torch.randn(n, d, generator=g)                # related pairs: realistic ranks
    retrieval_metrics(video[:64], text[:64])                      # warm-up
    peak = peak_rss_delta(lambda: retrieval_metrics(video, text))
    times = []
    for _ in range(args["reps"]):
        start = time.perf_counter()
        retrieval_metrics(video, text)
        times.append(time.perf_counter() - start)
    return {"median_s": median(times), "times_s": times, "peak_bytes": peak}


def run(quick: bool, threads: int, log=print) -> dict:
    sizes = {1000: 1} if quick else {1000: 9, 5000: 9, 10000: 5, 20000: 3}
    rows = []
    for n, reps in sizes.items():
        out = run_worker("benchmarks.worker", {"section": "retrieval", "n": n, "d": D, "reps": reps,
                                               "threads": threads}, threads)
        rows.append({"n": n, "d": D, "reps": reps, **out})
        shown = (f"{out['median_s']:.3f} s, {out['peak_bytes'] / 2**20:.0f} MiB peak" if "median_s" in out
                 else out["error"])
        log(f"  retrieval N={n}: {shown}")
    result = {"d": D, "rows": rows, "goal": f"retrieval_metrics (both directions) on {GOAL_N}x{GOAL_N} <= {GOAL_S} s"}
    goal_row = next((r for r in rows if r["n"] == GOAL_N and "median_s" in r), None)
    result["goal_met"] = None if goal_row is None else goal_row["median_s"] <= GOAL_S
    return result
