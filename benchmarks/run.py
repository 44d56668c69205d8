"""Run the benchmarks: ``python -m benchmarks.run`` (full, < 10 min on 2 cores; rewrites
benchmarks/README.md) or ``python -m benchmarks.run --quick`` (CI, < 1 min; no README).

Writes the raw results as JSON (default ``runs/bench/bench-<mode>-<time>.json``) and prints the tables.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
import traceback
from pathlib import Path

import torch

from crossclr_lab.files import atomic_write_json, atomic_write_text
from crossclr_lab.utils import resolve_device

from . import (
    distributed_loss,
    end_to_end,
    extract_speed,
    loss_memory,
    loss_speed,
    report,
    retrieval,
    train_step,
    umap_map,
    widget_latency,
)
from .harness import REPO, auto_threads, environment

SECTIONS = ("losses", "memory", "distributed", "retrieval", "end_to_end", "train_step", "umap", "extract")
README = REPO / "benchmarks" / "README.md"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="CI mode: small batches, few rounds, no peers needed")
    p.add_argument("--sections", default=",".join(SECTIONS),
                   help=f"comma-separated subset of {','.join(SECTIONS)} (default: all)")
    p.add_argument("--reps", type=int, default=None, help="alternating rounds per timing (default 9; 3 quick)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads (default: the available CPUs not kept busy by other processes, "
                        "from the load average; at least 1)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda[:N] (default auto)")
    p.add_argument("--json", type=Path, default=None, help="where to write the results JSON")
    p.add_argument("--readme", type=Path, default=None,
                   help="where to write the Markdown report (default: benchmarks/README.md for a full run of all "
                        "sections; none otherwise)")
    p.add_argument("--render", type=Path, default=None, metavar="JSON",
                   help="measure nothing: re-render the Markdown report of a results JSON (to --readme, or stdout)")
    args = p.parse_args(argv)
    args.sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = sorted(set(args.sections) - set(SECTIONS))
    if unknown:
        p.error(f"unknown sections {unknown}; choose from {', '.join(SECTIONS)}")
    if args.reps is not None and args.reps < 1:
        p.error("--reps must be >= 1")
    if args.threads is not None and args.threads < 1:
        p.error("--threads must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render is not None:
        text = report.markdown(json.loads(args.render.read_text(encoding="utf-8")))
        if args.readme is None:
            print(text)
        else:
            atomic_write_text(args.readme, text)
            print(f"wrote {args.readme}")
        return 0
    mode = "quick" if args.quick else "full"
    reps = args.reps or (3 if args.quick else 9)
    threads = args.threads or auto_threads()
    torch.set_num_threads(threads)
    device = resolve_device(args.device)
    dtypes = [torch.float32] + ([torch.bfloat16, torch.float16] if device.type == "cuda" and not args.quick else [])
    start, load_start = time.perf_counter(), os.getloadavg()[0]
    result = {"mode": mode, "command": " ".join(["python -m benchmarks.run"] + (argv if argv is not None
                                                                                   else sys.argv[1:])),
              "environment": environment(threads, device), "load_start": load_start,
              "threads_from": "--threads" if args.threads else "auto (available CPUs less the load average)"}
    print(f"benchmarks ({mode}): device {device}, {threads} torch threads, load average {load_start:.1f}")
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    json_path = args.json or REPO / "runs" / "bench" / f"bench-{mode}-{stamp}.json"
    runners = {
        "losses": ("losses: forward+backward, alternating rounds",
                   lambda: loss_speed.run(args.quick, reps, device, dtypes)),
        "memory": ("memory: one fresh process per case", lambda: loss_memory.run(args.quick, threads, device)),
        "distributed": ("distributed loss: N gloo processes on the CPU, one thread each",
                        lambda: distributed_loss.run(args.quick)),
        "retrieval": ("retrieval metrics", lambda: retrieval.run(args.quick, threads)),
        "end_to_end": ("end to end", lambda: end_to_end.run(args.quick)),
        "train_step": ("train step: the trainer against a minimal loop, alternating rounds",
                       lambda: train_step.run(2, ("crossclr",)) if args.quick else train_step.run()),
        "umap": ("umap", lambda: umap_map.run(args.quick, threads)),
        "extract": ("video extraction per stage (crossclr-lab extract)", lambda: extract_speed.run(args.quick)),
    }
    failed = []
    for name in (s for s in SECTIONS if s in args.sections):
        title, run_section = runners[name]
        print(title)
        try:
            result[name] = run_section()
        except Exception as err:  # noqa: BLE001 - one broken section must not lose the others' measurements
            traceback.print_exc()
            result[name] = {"error": f"{type(err).__name__}: {err}"}
            failed.append(name)
        if name == "losses" and name not in failed:
            result["goals"] = report.loss_goals(result["losses"])
        atomic_write_json(json_path, result)                  # partial results survive a later failure
    result["wall_s"] = time.perf_counter() - start
    result["load_end"] = os.getloadavg()[0]
    atomic_write_json(json_path, result)
    text = report.markdown(result)
    print()
    print(text)
    print(f"\nwrote {json_path}")
    readme = args.readme
    if readme is None and not args.quick and list(args.sections) == list(SECTIONS):
        readme = README
    if failed:
        print(f"sections failed: {', '.join(failed)}" + (f"; {readme} left as it was" if readme else ""))
        return 1
    if readme is not None:
        atomic_write_text(readme, text + widget_latency.kept_section(readme))   # that table has its own script
        print(f"wrote {readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
