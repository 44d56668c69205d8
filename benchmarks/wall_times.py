"""Wall time of what users run whole, against issue 22's targets: ``crossclr-lab demo`` (wall and CPU time, the
peak resident memory of each of its processes) and the notebook series (each notebook's wall time).

    python -m benchmarks.wall_times demo                          # one demo into a temporary folder
    python -m benchmarks.wall_times series --params ci            # the series (python -m crossclr_lab.notebooks run)
    python -m benchmarks.wall_times series --summary DIR/summary.json   # the table of a finished series run
    python -m benchmarks.wall_times demo --readme                 # also write the table into benchmarks/README.md

Memory is sampled from ``/proc`` every 0.2 s (Linux; elsewhere it is left out). The machine's load average is
printed beside each table: on a shared machine the absolute times are upper bounds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from crossclr_lab.files import atomic_write_text

REPO = Path(__file__).resolve().parents[1]
README = REPO / "benchmarks" / "README.md"
DEMO_TARGET_S, DEMO_TARGET_MIB = 60.0, 700.0
SERIES_TARGETS = {"ci": (180.0, 60.0), "full": (360.0, None)}   # params -> (whole series, each notebook) seconds


def _tree(pid: int) -> list[int]:
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return [pid]
    return [pid, *(p for c in children for p in _tree(int(c)))]


def _rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _role(pid: int, root: int) -> str:
    if pid == root:
        return "main"
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "other"
    return "worker" if "spawn_main" in cmd else "helper" if "resource_tracker" in cmd else "other"


def measure_demo(args: list[str] | None = None) -> dict:
    """Run the demo once (``args`` added to its command line); wall and CPU seconds, peak RSS per process role."""
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "crossclr_lab", "demo", "--out", out, *(args or [])]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        load = os.getloadavg()[0]
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        peaks: dict[int, tuple[str, float]] = {}
        while proc.poll() is None:
            for pid in _tree(proc.pid):
                rss = _rss_mib(pid)
                if rss is not None:
                    role = peaks.get(pid, (_role(pid, proc.pid), 0.0))[0]
                    peaks[pid] = (role, max(rss, peaks.get(pid, (role, 0.0))[1]))
            time.sleep(0.2)
        wall = time.perf_counter() - start
        stdout = proc.stdout.read()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"the demo exited with {proc.returncode}:\n{stdout[-2000:]}")
    by_role: dict[str, float] = {}
    for role, rss in peaks.values():
        by_role[role] = max(rss, by_role.get(role, 0.0))
    table = [line for line in stdout.splitlines() if line.startswith("| crossclr ") or line.startswith("| Δ")]
    return {"wall_s": wall, "cpu_s": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
            "peak_rss_mib": by_role, "load_start": load, "load_end": os.getloadavg()[0], "table": table,
            "args": args or []}


def demo_lines(m: dict) -> list[str]:
    peak = max(m["peak_rss_mib"].values()) if m["peak_rss_mib"] else None
    rows = [("wall time", f"{m['wall_s']:.0f} s", f"<= {DEMO_TARGET_S:.0f} s", m["wall_s"] <= DEMO_TARGET_S),
            ("CPU time (all processes)", f"{m['cpu_s']:.0f} s", "", None)]
    if peak is not None:
        rows.append(("peak RSS, largest process", f"{peak:.0f} MiB ("
                     + ", ".join(f"{r} {v:.0f}" for r, v in sorted(m["peak_rss_mib"].items())) + ")",
                     f"<= {DEMO_TARGET_MIB:.0f} MiB", peak <= DEMO_TARGET_MIB))
    lines = [f"`python -m benchmarks.wall_times demo` ({' '.join(m['args']) or 'the defaults'}): "
             f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load average "
             f"{m['load_start']:.1f} at the start, {m['load_end']:.1f} at the end.", "",
             "| measure | value | target | met |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {'' if ok is None else 'yes' if ok else 'no'} |" for a, b, c, ok in rows]
    if m["table"]:
        lines += ["", "The demo's rows, to compare with the README:", "", "```", *m["table"], "```"]
    return lines


def run_series(params: str, out: Path) -> Path:
    """Run the notebook series with ``params`` into ``out``; returns its summary.json."""
    subprocess.run([sys.executable, "-m", "crossclr_lab.notebooks", "run", "--out", str(out), "--params", params],
                   cwd=REPO, check=False)
    return out / "summary.json"


def series_lines(summary: dict, load: str = "") -> list[str]:
    params = summary.get("params", "ci")
    whole_target, each_target = SERIES_TARGETS.get(params, (None, None))
    rows = summary["notebooks"]
    total = sum(r["wall_time_s"] for r in rows)
    lines = [f"Notebook series, {params} parameters{load}: each notebook in its own kernel "
             "(`python -m crossclr_lab.notebooks run`).", "", "| notebook | status | wall s |", "|---|---|---|"]
    lines += [f"| {r['notebook']} | {r['status']} | {r['wall_time_s']:.1f} |" for r in rows]
    lines.append(f"| **all {len(rows)}** | {'ok' if all(r['status'] == 'ok' for r in rows) else 'FAILED'} | "
                 f"**{total:.0f}** |")
    targets = []
    if whole_target is not None:
        targets.append(f"the series <= {whole_target:.0f} s: {'met' if total <= whole_target else 'missed'}")
    if each_target is not None:
        over = [r["notebook"] for r in rows if r["wall_time_s"] > each_target]
        verdict = "met" if not over else f"missed ({', '.join(over)})"
        targets.append(f"no notebook over {each_target:.0f} s: {verdict}")
    if targets:
        lines += ["", "Targets: " + "; ".join(targets) + "."]
    return lines


def write_readme(marker: str, lines: list[str], title: str) -> None:
    start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    text = README.read_text(encoding="utf-8")
    block = "\n".join([start, f"## {title}", "", *lines, end])
    if start in text and end in text:
        text = text[:text.index(start)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    atomic_write_text(README, text)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.wall_times", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="what", required=True)
    d = sub.add_parser("demo", help="time one `crossclr-lab demo`")
    d.add_argument("demo_args", nargs=argparse.REMAINDER, help="extra demo arguments (e.g. --seeds 2)")
    s = sub.add_parser("series", help="time the notebook series")
    s.add_argument("--params", choices=("ci", "full"), default="ci")
    s.add_argument("--summary", type=Path, help="a finished run's summary.json (nothing is run)")
    for q in (d, s):
        q.add_argument("--readme", action="store_true", help="write the table into benchmarks/README.md")
    args = p.parse_args(argv)
    if args.what == "demo":
        lines, marker, title = demo_lines(measure_demo(args.demo_args)), "demo-time", "`crossclr-lab demo`"
    else:
        load = ""
        if args.summary is None:
            load_start = os.getloadavg()[0]
            with tempfile.TemporaryDirectory() as out:
                summary = json.loads(run_series(args.params, Path(out)).read_text())
            load = f" (load average {load_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end)"
        else:
            summary = json.loads(args.summary.read_text())
        lines = series_lines(summary, load)
        marker, title = f"series-{summary.get('params', args.params)}", f"Notebook series ({summary.get('params')})"
    print("\n".join(lines))
    if args.readme:
        write_readme(marker, lines, title)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
