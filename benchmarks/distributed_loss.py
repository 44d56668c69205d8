"""Distributed CrossCLR: per-process cost of one loss forward+backward at a fixed global batch, on N = 1, 2, 4
simulated processes (gloo on the CPU, one torch thread each), gathering everything (``gather_distributed``:
every rank computes the whole global loss) beside each rank computing its own anchors (``local_loss``).

Run: ``python -m benchmarks.distributed_loss`` (prints the table, writes JSON under runs/bench/; ``--quick``
for a small smoke run). Also a section of ``python -m benchmarks.run`` (``--sections distributed``).

Method. CrossCLR with the paper's settings (λ = 0.8, γ = 0.9, κ = 3.5e-3, τ = 0.03) and a full queue of Q;
one global batch ``[B, D]`` (input features 512 / 384 for connectivity) split into N contiguous slices, the
same tensors for every N, so the loss values must agree (last column). Each rank times ``reps`` steps, each after
a barrier: CPU seconds of the whole process (``time.process_time``: every thread, gloo's too; a rank waiting
in a collective blocks and costs none) and wall seconds (which also count the time the N processes and other
load wait for a core, and waiting for the slowest rank). Memory per process, two ways: the peak resident
set above the resident size just before one step (``VmHWM`` reset through ``/proc/self/clear_refs``; glibc
told to return every block >= 64 KiB on free; it also counts gloo's buffers and allocator slack), and the
bytes autograd saves for backward (``saved_tensors_hooks``, distinct storages: exact, but blind to
transients). A row reports the slowest / largest rank. At N = 1 both modes are the same single-process loss.

Compute alone. N processes on 2 shared cores slow each other down (caches, SMT siblings, other sessions), so
CPU time per process is inflated too. The second table times, in one process, what one rank of the local
mode computes (its ``B / N`` anchors against the global batch and queue, connectivity and weights over the
global batch, enqueueing, no communication) for each N alternately in rounds, as the other benchmarks do, and
gives paired median ratios to the whole loss; beside it the ratio of the ``[·, B + Q]`` block elements a
rank computes, ``2·(B/N)·(2B + Q)`` against the whole loss's ``B·(3B + 2Q)`` (which shares one ``B × B``
inter block between its two sides).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from crossclr_lab.distributed import destroy_process_group
from crossclr_lab.files import atomic_write_json
from crossclr_lab.losses import build_loss

from .harness import REPO, median, paired_ratio, peak_rss_delta, time_alternating
from .loss_speed import FEATURE_DIMS, FULL, TEMPERATURE

MODES = {"gather": {"gather_distributed": True}, "local": {"gather_distributed": True, "local_loss": True}}
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"}


def plan(quick: bool) -> dict:
    if quick:
        return {"b": 128, "d": 64, "queues": [0, 300], "worlds": [1, 2], "reps": 2}
    return {"b": 1024, "d": 256, "queues": [0, 3000], "worlds": [1, 2, 4], "reps": 5}


def _global_batch(b: int, d: int) -> list[torch.Tensor]:
    """One global batch ``[v, t, video_feat, text_feat]``, the same for every N (so are the losses)."""
    g = torch.Generator().manual_seed(0)
    return [torch.randn(b, dim, generator=g) for dim in (d, d, *FEATURE_DIMS)]


def _measure(world: int, rank: int, b: int, d: int, queue: int, mode: str, reps: int) -> dict:
    """One rank's timings and memory for one (queue, mode) case."""
    local = slice(rank * b // world, (rank + 1) * b // world)
    v, t, vf, tf = (x[local].clone() for x in _global_batch(b, d))
    v.requires_grad_(True)
    t.requires_grad_(True)
    loss_fn = build_loss("crossclr", temperature=TEMPERATURE, **FULL, queue_size=queue, **MODES[mode])
    with torch.no_grad():                                   # fill the queue with the global batch (every rank alike)
        for _ in range(-(-queue // b)):
            loss_fn(v, t, vf, tf)
    storages: dict[int, int] = {}

    def pack(x):
        storages[x.untyped_storage().data_ptr()] = x.untyped_storage().nbytes()
        return x

    def step(saved: bool = False) -> float:
        v.grad = t.grad = None
        with torch.autograd.graph.saved_tensors_hooks(pack if saved else (lambda x: x), lambda x: x):
            loss = loss_fn(v, t, vf, tf)
        loss.backward()
        return loss.item()

    loss_value = step(saved=True)                           # warm-up; the saved-for-backward bytes
    cpu, wall = [], []
    for _ in range(reps):
        dist.barrier()
        c0, w0 = time.process_time(), time.perf_counter()
        step()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    dist.barrier()
    peak = peak_rss_delta(step)
    return {"cpu_s": cpu, "wall_s": wall, "peak_bytes": peak, "saved_bytes": sum(storages.values()),
            "loss": loss_value, "rows": local.stop - local.start}


def _rank_main(rank: int, world: int, port: int, cfg: dict, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        modes = ["gather"] if world == 1 else list(MODES)      # one process: both modes are the plain loss
        results = [{"queue": q, "mode": m, **_measure(world, rank, cfg["b"], cfg["d"], q, m, cfg["reps"])}
                   for q in cfg["queues"] for m in modes]
        Path(out_dir, f"rank{rank}.json").write_text(json.dumps(results))
    finally:
        destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(world: int, cfg: dict) -> list[list[dict]]:
    """Start ``world`` gloo processes (spawned, glibc's allocator told to return freed blocks); their results."""
    saved = {k: os.environ.get(k) for k in MALLOC_ENV}
    os.environ.update(MALLOC_ENV)
    try:
        with tempfile.TemporaryDirectory() as out:
            mp.start_processes(_rank_main, args=(world, _free_port(), cfg, out), nprocs=world, start_method="spawn")
            return [json.loads(Path(out, f"rank{r}.json").read_text()) for r in range(world)]
    finally:
        for k, value in saved.items():
            if value is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = value


def _alone(cfg: dict) -> list[dict]:
    """One rank's local-mode computation for each N, in this process, timed alternately (see the docstring)."""
    b = cfg["b"]
    v, t, vf, tf = _global_batch(b, cfg["d"])
    v.requires_grad_(True)
    t.requires_grad_(True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    rows = []
    try:
        for queue in cfg["queues"]:
            loss_fn = build_loss("crossclr", temperature=TEMPERATURE, **FULL, queue_size=queue)
            with torch.no_grad():
                for _ in range(-(-queue // b)):
                    loss_fn(v, t, vf, tf)

            def step(n: int):
                def run_step():
                    v.grad = t.grad = None
                    parts = loss_fn.compute(torch.nn.functional.normalize(v, dim=1),
                                            torch.nn.functional.normalize(t, dim=1), vf, tf, TEMPERATURE,
                                            slice(0, b // n))
                    parts.loss.backward()
                return run_step

            samples = time_alternating({n: step(n) for n in cfg["worlds"]}, max(cfg["reps"], 3))
            whole_blocks = b * (3 * b + 2 * queue)
            for n in cfg["worlds"]:
                blocks = whole_blocks if n == 1 else 2 * (b // n) * (2 * b + queue)
                rows.append({"n": n, "queue": queue, "ms": median(samples[n]) * 1e3,
                             "ms_vs_n1": paired_ratio(samples[n], samples[1]), "blocks_vs_n1": blocks / whole_blocks})
    finally:
        torch.set_num_threads(threads)
    return rows


def run(quick: bool, log=print) -> dict:
    """Every N of the plan; rows per (N, mode, queue) with the slowest / largest rank and ratios to N = 1."""
    cfg = plan(quick)
    log(f"  distributed: one rank's computation alone, N = {cfg['worlds']}, timed alternately")
    alone = _alone(cfg)
    rows = []
    for world in cfg["worlds"]:
        log(f"  distributed: {world} process(es), B={cfg['b']} D={cfg['d']}, queues {cfg['queues']}")
        per_rank = _launch(world, cfg)
        for i, case in enumerate(per_rank[0]):
            ranks = [r[i] for r in per_rank]
            row = {"n": world, "mode": case["mode"], "queue": case["queue"], "rows_per_rank": case["rows"],
                   "cpu_ms": max(statistics.median(r["cpu_s"]) for r in ranks) * 1e3,
                   "wall_ms": max(statistics.median(r["wall_s"]) for r in ranks) * 1e3,
                   "peak_bytes": max(r["peak_bytes"] for r in ranks),
                   "saved_bytes": max(r["saved_bytes"] for r in ranks),
                   "loss": ranks[0]["loss"], "loss_spread_over_ranks": max(r["loss"] for r in ranks)
                   - min(r["loss"] for r in ranks)}
            rows += [row] if world > 1 else [row, {**row, "mode": "local"}]
    for row in rows:
        one = next(r for r in rows if r["n"] == 1 and r["queue"] == row["queue"])
        row.update({f"{key}_vs_n1": row[key] / one[key] for key in ("cpu_ms", "wall_ms", "peak_bytes", "saved_bytes")})
        row["loss_diff_vs_n1"] = abs(row["loss"] - one["loss"])
    paragraphs = [" ".join(p.split()) for p in __doc__.split("\n\n")]
    return {"method": paragraphs[2], "alone_method": paragraphs[3],
            "b": cfg["b"], "d": cfg["d"], "reps": cfg["reps"], "feature_dims": FEATURE_DIMS, "rows": rows,
            "alone": alone}


def table(result: dict) -> list[str]:
    """Markdown lines: one row per (queue, mode, N)."""
    header = ["Q", "mode", "N", "rows / rank", "CPU ms / process", "× N=1", "wall ms", "× N=1", "peak RSS MiB",
              "× N=1", "saved MiB", "× N=1", "|Δ loss| vs N=1"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in sorted(result["rows"], key=lambda r: (r["queue"], r["mode"], r["n"])):
        lines.append("| " + " | ".join([
            str(r["queue"]), r["mode"], str(r["n"]), str(r["rows_per_rank"]), f"{r['cpu_ms']:,.0f}",
            f"{r['cpu_ms_vs_n1']:.2f}", f"{r['wall_ms']:,.0f}", f"{r['wall_ms_vs_n1']:.2f}",
            f"{r['peak_bytes'] / 2**20:,.1f}", f"{r['peak_bytes_vs_n1']:.2f}", f"{r['saved_bytes'] / 2**20:,.1f}",
            f"{r['saved_bytes_vs_n1']:.2f}", f"{r['loss_diff_vs_n1']:.1e}"]) + " |")
    lines += ["", f"Global batch B = {result['b']}, D = {result['d']}, {result['reps']} timed steps per rank. "
              + result["method"], "", "**One rank's local-mode computation alone (one process, alternating rounds)**",
              "", "| Q | N | rows / rank | ms | × N=1 (paired) | block elements × N=1 |", "|---|---|---|---|---|---|"]
    for r in result["alone"]:
        lines.append(f"| {r['queue']} | {r['n']} | {result['b'] // r['n']} | {r['ms']:,.0f} | {r['ms_vs_n1']:.2f} "
                     f"| {r['blocks_vs_n1']:.2f} |")
    lines += ["", result["alone_method"]]
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.distributed_loss", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="smoke run: B=128, D=64, N = 1 and 2")
    p.add_argument("--json", type=Path, default=None, help="where to write the results JSON")
    args = p.parse_args(argv)
    load_start = os.getloadavg()[0]
    result = run(args.quick)
    result.update(load_start=load_start, load_end=os.getloadavg()[0], cpus=os.cpu_count(),
                  date_utc=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = args.json or REPO / "runs" / "bench" / f"distributed-{'quick' if args.quick else 'full'}-{stamp}.json"
    atomic_write_json(path, result)
    print("\n".join(table(result)))
    print(f"\nload average (1 min) at start / end: {result['load_start']:.1f} / {result['load_end']:.1f} "
          f"on {result['cpus']} CPUs\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
