"""Peak memory of one loss forward+backward, measured in a fresh process per case.

Method (CPU): the process's resident-set high-water mark (``VmHWM``, reset through
``/proc/self/clear_refs``) minus its resident size just before the call, with glibc told to return every
block >= 64 KiB on free; inputs, the model-free loss object and a filled queue exist before the
measurement, a tiny warm-up call has loaded lazily initialised kernels. Also reported: the bytes autograd
saves for backward (``saved_tensors_hooks``, distinct storages), which is exact but misses transients.
On CUDA: ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats``.
"""

from __future__ import annotations

import resource

import torch

from .harness import peak_rss_delta, run_worker
from .loss_speed import MEMORY_ONLY, OURS, TEMPERATURE, _make_inputs, _step, build_ours
from .peers import available_peers

BUDGET_BYTES = 8 * 2**30
BIG_BATCH = 16384
SCALING_CASE = "crossclr full q3k"
CHUNKED_CASE = "crossclr full q3k chunk2048"


def _queue_size(case: str) -> int:
    cases = {**OURS, **MEMORY_ONLY}
    return cases[case][1].get("queue_size", 0) if case in cases else 0


def measure(args: dict) -> dict:
    """In-process measurement (the worker side): ``args`` has case, b, d, threads, device."""
    torch.set_num_threads(args["threads"])
    device = torch.device(args.get("device", "cpu"))
    case, b, d = args["case"], args["b"], args["d"]
    if case in OURS or case in MEMORY_ONLY:
        fn = build_ours(case, d, device, torch.float32)
    else:
        peers, status = available_peers(TEMPERATURE)
        if case not in peers:
            return {"error": status.get(case, "unknown case")}
        fn = peers[case][1]
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    _step(fn, _make_inputs(8, d, device, torch.float32, seed=1), sync)()      # warm-up: lazy kernel init
    x = _make_inputs(b, d, device, torch.float32)
    if args.get("address_limit_bytes"):
        with open("/proc/self/status", encoding="ascii") as f:
            vm_size = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
        resource.setrlimit(resource.RLIMIT_AS, (vm_size + args["address_limit_bytes"], resource.RLIM_INFINITY))
    storages: dict[int, int] = {}

    def pack(t):
        storage = t.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return t

    def step():
        x["v"].grad = x["t"].grad = None
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            loss = fn(x["v"], x["t"], x["vf"], x["tf"])
        loss.backward()
        sync()

    try:
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
            base = torch.cuda.memory_allocated(device)
            step()
            peak = torch.cuda.max_memory_allocated(device) - base
        else:
            peak = peak_rss_delta(step)
    except (RuntimeError, MemoryError) as err:
        return {"fits": False, "error": f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"}
    unit = 4 * b * (b + _queue_size(case))
    return {"fits": True, "peak_bytes": peak, "saved_bytes": sum(storages.values()), "unit_bytes": unit,
            "peak_units": peak / unit, "saved_units": sum(storages.values()) / unit}


def _fit_scaling(points: list[tuple[int, int, int]]) -> tuple[float, float]:
    """Least squares ``peak ≈ a·B(B+Q) + c·B`` over ``(B, Q, peak)`` points; returns ``(a, c)``."""
    import numpy as np

    x = np.array([[b * (b + q), b] for b, q, _ in points], dtype=float)
    y = np.array([p for _, _, p in points], dtype=float)
    (a, c), *_ = np.linalg.lstsq(x, y, rcond=None)
    return float(a), float(c)


def run(quick: bool, threads: int, device: torch.device, log=print) -> dict:
    if quick:
        plan = [(case, 256) for case in ("crossclr full q3k", "infonce")]
    else:
        plan = ([(SCALING_CASE, b) for b in (1024, 2048, 4096)]
                + [(case, b) for case in ("crossclr full", "crossclr full q10k", "infonce", "nt_xent",
                                          "open_clip ClipLoss") for b in (1024, 4096)])
    d = 256
    rows = []
    for case, b in plan:
        out = run_worker("benchmarks.worker", {"section": "loss_memory", "case": case, "b": b, "d": d,
                                               "threads": threads, "device": str(device)}, threads)
        rows.append({"case": case, "b": b, "d": d, "queue": _queue_size(case), **out})
        shown = f"{out['peak_bytes'] / 2**20:.0f} MiB peak" if "peak_bytes" in out else out.get("error")
        log(f"  memory {case} B={b}: {shown}")
    result = {"method": " ".join(__doc__.split("\n\n", 1)[1].split()), "d": d, "rows": rows}
    points = [(r["b"], r["queue"], r["peak_bytes"]) for r in rows if r["case"] == SCALING_CASE and "peak_bytes" in r]
    if len(points) >= 2:
        a, c = _fit_scaling(points)
        q = _queue_size(SCALING_CASE)
        estimate = a * BIG_BATCH * (BIG_BATCH + q) + c * BIG_BATCH
        result["big_batch"] = {"case": SCALING_CASE, "b": BIG_BATCH, "budget_bytes": BUDGET_BYTES,
                               "estimate_bytes": estimate,
                               "fit": f"peak ≈ {a:.2f}·B(B+Q) {'+' if c >= 0 else '−'} {abs(c):.0f}·B bytes",
                               "estimate_fits": estimate <= BUDGET_BYTES}
        if not quick and device.type == "cpu":
            log(f"  memory {SCALING_CASE} B={BIG_BATCH} under an 8 GiB address-space limit ...")
            out = run_worker("benchmarks.worker", {"section": "loss_memory", "case": SCALING_CASE, "b": BIG_BATCH,
                                                   "d": d, "threads": threads, "device": str(device)}, threads,
                             address_limit_bytes=BUDGET_BYTES)
            result["big_batch"]["measured"] = out
            log(f"  memory {CHUNKED_CASE} B={BIG_BATCH} under an 8 GiB address-space limit ...")
            result["big_batch"]["chunked_case"] = CHUNKED_CASE
            result["big_batch"]["measured_chunked"] = run_worker(
                "benchmarks.worker", {"section": "loss_memory", "case": CHUNKED_CASE, "b": BIG_BATCH, "d": d,
                                      "threads": threads, "device": str(device)}, threads,
                address_limit_bytes=BUDGET_BYTES)
    return result
