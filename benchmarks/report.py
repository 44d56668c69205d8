"""Turning a benchmark result dict into goal verdicts and Markdown (printed, and benchmarks/README.md)."""

from __future__ import annotations

from . import distributed_loss, extract_speed, train_step
from .loss_speed import FULL_CASES

GOAL_X_CLIP, GOAL_X_BOUND, GOAL_MIN_B = 1.5, 2.0, 256


def loss_goals(losses: dict) -> dict:
    """CrossCLR full (each queue size) at B >= 256: <= 1.5x ClipLoss and <= 2x its own matmul bound."""
    rows, clip_missing = [], False
    for g in losses["groups"]:
        if g["b"] < GOAL_MIN_B:
            continue
        for case in FULL_CASES:
            if case not in g["cases"]:
                continue
            row = g["cases"][case]
            clip_missing |= g["reference"] != "open_clip ClipLoss"
            ref = g["cases"].get(g["reference"])
            rows.append({"case": case, "b": g["b"], "d": g["d"], "dtype": g["dtype"],
                         # the x_reference a loss at exactly its matmul bound would get against the reference's bound
                         "floor_vs_reference": None if ref is None or "bound_ms" not in ref
                         else row["bound_ms"] / ref["bound_ms"],
                         "x_reference": row.get("x_reference"), "reference": g["reference"], "x_bound": row["x_bound"],
                         "vs_reference_ok": row.get("x_reference") is not None and row["x_reference"] <= GOAL_X_CLIP,
                         "vs_bound_ok": row["x_bound"] <= GOAL_X_BOUND})
    verdict = {}
    for case in FULL_CASES:
        mine = [r for r in rows if r["case"] == case]
        if mine:
            verdict[case] = {"vs_clip": all(r["vs_reference_ok"] for r in mine),
                             "vs_bound": all(r["vs_bound_ok"] for r in mine)}
    return {"rows": rows, "verdict": verdict, "clip_missing": clip_missing,
            "goal": f"CrossCLR full <= {GOAL_X_CLIP}x open_clip ClipLoss and <= {GOAL_X_BOUND}x its matmul bound "
                    f"at B >= {GOAL_MIN_B}"}


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


def _fmt_ms(x: float) -> str:
    return f"{x:.3g}" if x < 10 else f"{x:,.0f}"


def _mib(b: float) -> str:
    return f"{b / 2**20:,.0f}"


def loss_tables(losses: dict) -> list[str]:
    groups = losses["groups"]
    cols = [f"B={g['b']} D={g['d']}" + ("" if g["dtype"] == "float32" else f" {g['dtype']}") for g in groups]
    cases = list(dict.fromkeys(c for g in groups for c in list(g["cases"]) + list(g["skipped"])))
    out = []
    for title, key, fmt in (("Time per forward+backward, ms (median)", "median_ms", _fmt_ms),
                            ("Multiple of the case's own matmul lower bound (paired median ratio)", "x_bound",
                             lambda x: f"{x:.2f}"),
                            ("Multiple of open_clip ClipLoss (paired median ratio; our InfoNCE where ClipLoss is "
                             "unavailable)", "x_reference", lambda x: f"{x:.2f}")):
        rows = []
        for case in cases:
            cells = []
            for g in groups:
                row = g["cases"].get(case)
                cells.append(fmt(row[key]) if row is not None and key in row else "–")
            rows.append([case] + cells)
        out += [f"**{title}**", ""] + _table(["case"] + cols, rows) + [""]
    out.append("Matmul lower bound, ms (median): " + "; ".join(
        f"B={g['b']} D={g['d']}: " + ", ".join(f"{case} {_fmt_ms(g['cases'][case]['bound_ms'])}"
                                               for case in ("infonce", "crossclr full", "crossclr full q10k")
                                               if case in g["cases"]) for g in groups) + ".")
    skipped = {(c, why) for g in groups for c, why in g["skipped"].items()}
    if skipped:
        out += ["", "Not measured: " + "; ".join(f"{c}: {why}" for c, why in sorted(skipped)) + "."]
    return out


def agreement_table(losses: dict) -> list[str]:
    rows = [[check, str(g["b"]), str(g["d"]), g["dtype"], f"{a['loss_ours']:.6f}", f"{a['loss_peer']:.6f}",
             f"{a['loss_abs_diff']:.2e}", f"{a['grad_max_abs_diff']:.2e}"]
            for g in losses["groups"] for check, a in g["agreement"].items()]
    if not rows:
        return ["No peer with the same maths was available, so no values were compared."]
    return _table(["ours vs peer", "B", "D", "dtype", "ours", "peer", "|Δ loss|", "max |Δ grad|"], rows)


def goal_lines(goals: dict) -> list[str]:
    lines = [f"Goal: {goals['goal']}."]
    if goals["clip_missing"]:
        lines.append("open_clip was not available for some cases: those ratios are against our InfoNCE (same maths).")
    lines.append("The matmul floor is the ratio of the two matmul lower bounds: what the ClipLoss multiple would be "
                 "if both losses ran at exactly their bound. Where it exceeds the goal, the goal cannot be met by "
                 "any implementation of the same maths on this machine.")
    for case, v in goals["verdict"].items():
        rs = [r for r in goals["rows"] if r["case"] == case]
        detail = ", ".join(f"B={r['b']} D={r['d']}: {r['x_reference']:.2f}x clip / {r['x_bound']:.2f}x bound"
                           + ("" if r["floor_vs_reference"] is None else
                              f" (matmul floor {r['floor_vs_reference']:.2f}x clip)") for r in rs)
        lines.append(f"- {case}: ≤ {GOAL_X_CLIP}x ClipLoss **{'met' if v['vs_clip'] else 'NOT met'}**, "
                     f"≤ {GOAL_X_BOUND}x bound **{'met' if v['vs_bound'] else 'NOT met'}** ({detail})")
    return lines


def memory_lines(memory: dict) -> list[str]:
    rows = []
    for r in memory["rows"]:
        if "peak_bytes" in r:
            rows.append([r["case"], str(r["b"]), str(r["queue"]), _mib(r["peak_bytes"]), _mib(r["saved_bytes"]),
                         f"{r['peak_units']:.1f}", f"{r['saved_units']:.1f}"])
        else:
            rows.append([r["case"], str(r["b"]), str(r["queue"]), r.get("error", "?"), "", "", ""])
    lines = _table(["case", "B", "Q", "peak MiB", "saved for backward MiB", "peak / (4·B·(B+Q))",
                    "saved / (4·B·(B+Q))"], rows)
    lines += ["", f"D = {memory['d']}. {' '.join(memory['method'].split())}"]
    big = memory.get("big_batch")
    if big:
        est = (f"B = {big['b']} ({big['case']}): estimated peak {big['estimate_bytes'] / 2**30:.1f} GiB from the "
               f"measured scaling ({big['fit']}), {'within' if big['estimate_fits'] else 'over'} 8 GiB.")
        measured = big.get("measured")
        if measured is not None:
            if measured.get("fits"):
                est += (f" Measured under an 8 GiB address-space limit (stricter than 8 GB of RAM): ran, peak "
                        f"{measured['peak_bytes'] / 2**30:.2f} GiB resident → **fits in 8 GB**.")
            else:
                est += f" Run under an 8 GiB address-space limit: failed ({measured.get('error')}) → **does not fit**."
        chunked = big.get("measured_chunked")
        if chunked is not None:
            est += (f" The chunked path ({big['chunked_case']}, `CrossCLRLoss(chunk_size=2048)`) under the same limit: "
                    + (f"ran, peak {chunked['peak_bytes'] / 2**30:.2f} GiB resident → **fits**." if chunked.get("fits")
                       else f"failed ({chunked.get('error')}) → **does not fit**."))
        lines += ["", est]
    return lines


def retrieval_lines(retrieval: dict) -> list[str]:
    rows = [[str(r["n"]), str(r["reps"]), f"{r['median_s']:.3f}", _mib(r["peak_bytes"])] if "median_s" in r
            else [str(r["n"]), str(r["reps"]), r["error"], ""] for r in retrieval["rows"]]
    lines = _table(["pairs N", "reps", "time s (median)", "peak MiB"], rows)
    met = retrieval.get("goal_met")
    lines += ["", f"D = {retrieval['d']}, both directions, chunked. Goal: {retrieval['goal']}: "
              + ("not measured in this mode." if met is None else f"**{'met' if met else 'NOT met'}**.")]
    return lines


def _not_measured(label: str, section: dict) -> str | None:
    """The report line of a section that failed or was skipped, else None."""
    if "error" in section:
        return f"- {label}: failed ({section['error']})."
    if "skipped" in section:
        return f"- {label}: skipped ({section['skipped']})."
    return None


def e2e_lines(e2e: dict) -> list[str]:
    lines = []
    em = e2e["emoji_motion"]
    if line := _not_measured("Emoji Motion", em):
        lines.append(line)
    else:
        for loss, r in em["epoch"].items():
            lines.append(f"- Emoji Motion ({em['n']['train']} train pairs), {loss}: {r['epoch_s']:.2f} s per epoch "
                         f"({r['steps_per_epoch']} steps, {r['device']}).")
        c = em["comparison"]
        if "seconds" in c:
            lines.append(f"- Emoji Motion 3-seed comparison ({', '.join(c['variants'])}; {c['epochs']} epochs each, "
                         f"batch 64): {c['seconds']:.0f} s in all. " + " ".join(c["verdicts"]))
        else:
            lines.append(f"- Emoji Motion 3-seed comparison: {c.get('skipped') or c.get('error')}.")
    yc = e2e["youcook2_sized"]
    if line := _not_measured("YouCook2-sized synthetic", yc):
        lines.append(line)
    else:
        s = yc["shape"]
        for encoder, r in yc["encoders"].items():
            note = f", extrapolated from {r['steps_run']} steps" if r["extrapolated"] else ""
            lines.append(f"- YouCook2-sized synthetic ({s['n']} clips, {s['frames']}x{s['video_dim']} video, "
                         f"{s['tokens']}x{s['text_dim']} text), {encoder} encoder, {yc['loss']}: "
                         f"{r['epoch_s']:.1f} s per epoch ({r['steps_per_epoch']} steps of {yc['batch_size']}{note}; "
                         f"{r['device']}).")
    return lines


def umap_lines(umap: dict) -> list[str]:
    if "skipped" in umap:
        return [f"Skipped: {umap['skipped']}."]
    if "error" in umap:
        return [f"Failed: {umap['error']}."]
    if "kit" not in umap:   # a run of before 2026-12-03: UMAP searching its own neighbours only
        return [f"{umap['points']} points x {umap['d']}-d, metric {umap['metric']}, fresh process: import "
                f"{umap['import_s']:.1f} s, first fit {umap['first_fit_s']:.1f} s (numba compiles), "
                f"warm fit {umap['warm_fit_s']:.1f} s."]
    lines = [f"{umap['points']} points x {umap['d']}-d, metric {umap['metric']}, a fresh process each:", ""]
    for key, label in (("kit", "joint_umap (exact neighbours handed to UMAP)"),
                       ("own_neighbours", "UMAP searching its own neighbours (the same map)")):
        t = umap[key]
        lines.append(f"- {label}: import {t['import_s']:.1f} s, first fit {t['first_fit_s']:.1f} s (numba "
                     f"compiles), warm fit {t['warm_fit_s']:.1f} s.")
    return lines


def markdown(result: dict) -> str:
    env = result["environment"]
    m = env["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in env["versions"].items())
    lines = ["# Benchmarks", "",
             f"Generated by `{result['command']}`; do not edit by hand (the full mode rewrites this file). "
             "Raw numbers: the JSON under `runs/bench/`.", "",
             f"- Date (UTC): {env['date_utc']}; commit {env['git_commit']}; mode: {result['mode']}; "
             f"wall time {result['wall_s']:.0f} s.",
             f"- Machine: {m['cpu']}, {m['cpus_available']} CPUs available, torch threads {m['torch_threads']} "
             f"({result['threads_from']}), "
             f"{m['memory_gib']} GiB RAM, {m['platform']}; device {env['device']}"
             + (f" ({m['gpu']})" if "gpu" in m else "") + ".",
             f"- Load average (1 min) at start / end: {result['load_start']:.1f} / {result['load_end']:.1f} "
             "(the machine is shared: every table's cases were timed alternately in one run, ratios are "
             "per-round paired medians).",
             f"- Versions: {versions}.", ""]
    titles = {"losses": "Losses: forward + backward", "memory": "Loss memory", "distributed": "Distributed loss",
              "retrieval": "Retrieval metrics", "end_to_end": "End to end", "train_step": "Training step",
              "umap": "UMAP map", "extract": "Video extraction"}
    for name, title in titles.items():
        if "error" in result.get(name, {}):
            lines += [f"## {title}", "", f"Failed: {result[name]['error']}", ""]
    result = {k: v for k, v in result.items() if not (isinstance(v, dict) and "error" in v and k in titles)}
    if "losses" in result:
        losses = result["losses"]
        lines += ["## Losses: forward + backward", "",
                  f"τ = {losses['temperature']}; input features for connectivity {losses['feature_dims']}; "
                  f"{losses['reps']} alternating rounds per table column. Queues are full before timing and "
                  "training-mode enqueueing is part of each step.", ""]
        lines += ["Peers (the `bench` extra) are optional. Beside the CPU torch wheel install them with "
                  "`pip install --no-deps open_clip_torch lightly pytorch-metric-learning`: their loss modules need "
                  "only torch and numpy, while their torchvision dependency from PyPI is a CUDA build that fails to "
                  "load beside the CPU torch (and breaks other packages that import it).", ""]
        lines += [f"- peer {name}: {status}" for name, status in losses["peers"].items()]
        lines += [f"- note on {name}: {note}" for name, note in losses["peer_notes"].items() if note]
        lines += [""] + loss_tables(losses) + ["", "### Same maths, same tensors: values agree", ""]
        lines += agreement_table(losses) + ["", "### Goals", ""] + goal_lines(loss_goals(losses)) + [""]
    if "memory" in result:
        lines += ["## Loss memory (CPU, float32)", ""] + memory_lines(result["memory"]) + [""]
    if "distributed" in result:
        lines += ["## Distributed loss (CPU, gloo)", ""] + distributed_loss.table(result["distributed"]) + [""]
    if "retrieval" in result:
        lines += ["## Retrieval metrics", ""] + retrieval_lines(result["retrieval"]) + [""]
    if "end_to_end" in result:
        lines += ["## End to end", ""] + e2e_lines(result["end_to_end"]) + [""]
    if "train_step" in result:
        lines += ["## Training step: the trainer against a minimal loop", ""] + train_step.table(result["train_step"])
        lines += [""]
    if "umap" in result:
        lines += ["## UMAP map", ""] + umap_lines(result["umap"]) + [""]
    if "extract" in result:
        lines += ["## Video extraction", ""] + extract_speed.lines(result["extract"]) + [""]
    return "\n".join(lines)
