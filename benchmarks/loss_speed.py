"""Loss forward+backward time: our losses, PyPI peers and the matmul lower bound, measured alternately.

The lower bound of a case is the time of its unavoidable similarity products alone (``torch.mm`` on the
same machine, same shapes): forward ``[B, D] x [D, N]`` for every block and, backward, one product per
block and input that needs a gradient (a block ``x xᵀ`` needs one: ``(G + Gᵀ) x``; a queue needs none).
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from crossclr_lab.losses import build_loss

from .harness import median, paired_ratio, time_alternating
from .peers import available_peers

TEMPERATURE = 0.03
FEATURE_DIMS = (512, 384)                 # pooled input features (video, text), for connectivity
FULL = {"intra_weight": 0.8, "prune_threshold": 0.9, "weight_temperature": 3.5e-3}
OFF = {"intra_weight": 0.0, "prune_threshold": None, "weight_temperature": None, "queue_size": 0}

# display name -> (loss name, kwargs)
OURS = {
    "crossclr full": ("crossclr", {**FULL, "queue_size": 0}),
    "crossclr full q3k": ("crossclr", {**FULL, "queue_size": 3000}),
    "crossclr full q10k": ("crossclr", {**FULL, "queue_size": 10000}),
    "crossclr intra only": ("crossclr", {**OFF, "intra_weight": 0.8}),
    "crossclr pruning only": ("crossclr", {**OFF, "prune_threshold": 0.9}),
    "crossclr weighting only": ("crossclr", {**OFF, "weight_temperature": 3.5e-3}),
    "infonce": ("infonce", {}),
    "nt_xent": ("nt_xent", {}),
    "max_margin": ("max_margin", {}),
    "mil_nce": ("mil_nce", {}),
    "dcl": ("dcl", {}),
}
FULL_CASES = ("crossclr full", "crossclr full q3k", "crossclr full q10k")
# Measured for memory only (loss_memory's big batch): the chunked path for batches that do not fit otherwise.
MEMORY_ONLY = {"crossclr full q3k chunk2048": ("crossclr", {**FULL, "queue_size": 3000, "chunk_size": 2048})}


def bound_shapes(case: str, b: int, d: int) -> list[tuple[int, int, int]]:
    """The ``(m, k, n)`` products ``[m, k] x [k, n]`` a case cannot avoid, forward and backward."""
    cross = [(b, d, b), (b, b, d), (b, b, d)]                   # v tᵀ, then dL/dv and dL/dt
    if case.startswith("crossclr"):
        kwargs = OURS[case][1]
        shapes = list(cross)
        if kwargs["intra_weight"] > 0:
            shapes += [(b, d, b), (b, b, d)] * 2               # v vᵀ and t tᵀ: forward + one backward each
            q = kwargs["queue_size"]
            if q:
                shapes += [(b, d, q), (b, q, d)] * 2           # anchors x queueᵀ: forward + dL/danchors
        return shapes
    if case in ("nt_xent", "PML NTXentLoss", "lightly NTXentLoss", "lightly DCLLoss"):
        return [(2 * b, d, 2 * b), (2 * b, 2 * b, d)]          # z zᵀ over z = [v; t]
    return cross                                                # one B x B block (InfoNCE, CLIP, ...)


def _bound_fn(shapes: list[tuple[int, int, int]], device, dtype) -> Callable[[], None]:
    mats = [(torch.randn(m, k, device=device, dtype=dtype), torch.randn(k, n, device=device, dtype=dtype))
            for m, k, n in shapes]

    def run():
        for a, c in mats:
            torch.mm(a, c)
    return run


def _make_inputs(b: int, d: int, device, dtype, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    make = lambda *shape: torch.randn(*shape, generator=g).to(device=device, dtype=dtype)  # noqa: E731
    return {"v": make(b, d).requires_grad_(), "t": make(b, d).requires_grad_(),
            "vf": make(b, FEATURE_DIMS[0]), "tf": make(b, FEATURE_DIMS[1])}


def _fill_queue(loss_fn, d: int, device, dtype) -> None:
    """Fill a CrossCLR queue with random entries (train-mode calls without gradient), so timings see a full one."""
    q = loss_fn.queue_size
    chunk = 1000
    with torch.no_grad():
        for i in range(math.ceil(q / chunk)):
            x = _make_inputs(chunk, d, device, dtype, seed=100 + i)
            loss_fn(x["v"], x["t"], x["vf"], x["tf"])


def build_ours(case: str, d: int, device, dtype) -> Callable:
    name, kwargs = {**OURS, **MEMORY_ONLY}[case]
    loss_fn = build_loss(name, temperature=TEMPERATURE, **kwargs) if name != "max_margin" else build_loss(name)
    loss_fn.to(device).train()
    if kwargs.get("queue_size"):
        _fill_queue(loss_fn, d, device, dtype)
    return lambda v, t, vf, tf: loss_fn(v, t, vf, tf)


def _step(fn: Callable, x: dict, sync: Callable[[], None]) -> Callable[[], None]:
    def step():
        x["v"].grad = x["t"].grad = None
        fn(x["v"], x["t"], x["vf"], x["tf"]).backward()
        sync()
    return step


def agreement(ours: Callable, peer: Callable, x: dict) -> dict:
    """Max abs difference of the loss value and of the gradients w.r.t. both inputs, same tensors."""
    out = {}
    for key, fn in (("ours", ours), ("peer", peer)):
        v, t = x["v"].detach().clone().requires_grad_(), x["t"].detach().clone().requires_grad_()
        loss = fn(v, t, x["vf"], x["tf"])
        loss.backward()
        out[key] = (loss.detach().double(), v.grad.double(), t.grad.double())
    (lo, gvo, gto), (lp, gvp, gtp) = out["ours"], out["peer"]
    return {"loss_ours": float(lo), "loss_peer": float(lp), "loss_abs_diff": float((lo - lp).abs()),
            "grad_max_abs_diff": float(max((gvo - gvp).abs().max(), (gto - gtp).abs().max()))}


def plan(quick: bool) -> list[dict]:
    """The (B, D, cases) groups to run; each group is timed alternately as one set."""
    peers = ["open_clip ClipLoss", "PML NTXentLoss", "lightly NTXentLoss", "lightly DCLLoss"]
    every = list(OURS) + peers
    if quick:   # every code path once, small: the q10k queue and PML's B=256 cost most of a minute
        cases = ["crossclr full", "crossclr full q3k", "crossclr intra only", "infonce", "nt_xent", "dcl"] + peers
        return [{"b": 64, "d": 256, "cases": cases},
                {"b": 256, "d": 256, "cases": [c for c in cases if c != "PML NTXentLoss"]}]
    groups = [{"b": b, "d": d, "cases": every if d == 256 else [c for c in every if c != "PML NTXentLoss"]}
              for d in (256, 384) for b in (64, 256, 1024)]
    # B = 4096 (one round of all cases would take a minute): the goal's CrossCLR cases and their references
    groups.append({"b": 4096, "d": 256, "cases": ["crossclr full", "crossclr full q3k", "infonce",
                                                  "open_clip ClipLoss"]})
    return groups


def run(quick: bool, reps: int, device: torch.device, dtypes: list[torch.dtype], log=print) -> dict:
    """Time every group of :func:`plan` on ``device`` for each dtype; returns a JSON-able dict."""
    peers, peer_status = available_peers(TEMPERATURE)
    for name, status in peer_status.items():
        log(f"  peer {name}: {status}")
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    results = []
    for dtype in dtypes:
        for group in plan(quick):
            results.append(_run_group(group, reps, device, dtype, peers, peer_status, sync, log))
    return {"temperature": TEMPERATURE, "feature_dims": FEATURE_DIMS, "reps": reps, "peers": peer_status,
            "peer_notes": {p.name: p.note for p, _ in peers.values()}, "groups": results}


def _run_group(group, reps, device, dtype, peers, peer_status, sync, log) -> dict:
    b, d = group["b"], group["d"]
    x = _make_inputs(b, d, device, dtype)
    fns, steps, skipped, bound_of = {}, {}, {}, {}
    for case in group["cases"]:
        if case in OURS:
            fns[case] = build_ours(case, d, device, dtype)
        elif case not in peers:
            skipped[case] = peer_status.get(case, "not available")
            continue
        else:
            peer, fn = peers[case]
            if peer.max_batch is not None and b > peer.max_batch:
                skipped[case] = f"skipped above B={peer.max_batch} (memory)"
                continue
            fns[case] = fn
        shapes = bound_shapes(case, b, d)
        bound_of[case] = "bound " + " + ".join(f"{m}x{k}x{n}" for m, k, n in shapes)
        if bound_of[case] not in steps:
            steps[bound_of[case]] = _bound_fn(shapes, device, dtype)
        steps[case] = _step(fns[case], x, sync)
    for case in list(fns):                    # a case that fails (e.g. out of memory) is reported, not timed
        try:
            steps[case]()
        except (RuntimeError, MemoryError) as err:
            skipped[case] = f"failed: {type(err).__name__}: {str(err).splitlines()[0][:160]}"
            del steps[case], fns[case]
    log(f"  B={b} D={d} {str(dtype).replace('torch.', '')}: timing {len(steps)} functions x {reps} rounds")
    samples = time_alternating(steps, reps, min_sample_s=0.005 if reps <= 3 else 0.02)
    reference = "open_clip ClipLoss" if "open_clip ClipLoss" in samples else "infonce"
    cases = {}
    for case in fns:
        row = {"median_ms": median(samples[case]) * 1e3, "bound": bound_of[case],
               "bound_ms": median(samples[bound_of[case]]) * 1e3,
               "x_bound": paired_ratio(samples[case], samples[bound_of[case]]),
               "samples_ms": [s * 1e3 for s in samples[case]]}
        if reference in samples:
            row["x_reference"] = paired_ratio(samples[case], samples[reference])
        cases[case] = row
    checks = {}
    for case in fns:
        if case in peers and peers[case][0].same_as in fns:
            ours = peers[case][0].same_as
            checks[f"{ours} vs {case}"] = agreement(fns[ours], fns[case], x)
    return {"b": b, "d": d, "dtype": str(dtype).replace("torch.", ""), "device": str(device),
            "reference": reference, "cases": cases, "skipped": skipped, "agreement": checks}
