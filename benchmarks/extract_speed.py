"""Video extraction speed (``crossclr-lab extract``) per stage, on real video files written here with PyAV.

Stages per clip, timed alternately clip by clip with one torch thread (as ``extract`` runs):
decode (demux to count the frames, then decode every frame), resize (the sampled frames and the ones before
them converted, squared, resized for the network and the motion grid), network (EfficientNet-Lite0 on the
distinct sampled frames), text (MiniLM on the clip's caption). Goal: decoding plus the appearance expert at
>= 50 decoded frames/s on this 2-core machine.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import torch

GOAL_FPS = 50.0
FULL = {"clips": 24, "frames": 48, "size": (240, 320)}       # 2 s at 24 fps, 320x240
QUICK = {"clips": 4, "frames": 24, "size": (120, 160)}


def _frames(k: int, frames: int, size: tuple[int, int]) -> np.ndarray:
    """A coloured square crossing a textured background: ``[frames, H, W, 3]`` uint8."""
    h, w = size
    rng = np.random.default_rng(k)
    background = (rng.integers(0, 60, (h // 8, w // 8, 3)) + 150).astype(np.uint8).repeat(8, 0).repeat(8, 1)
    out = np.repeat(background[None], frames, axis=0)
    colour = rng.integers(0, 255, 3)
    side = h // 3
    for i in range(frames):
        x = int((w - side) * i / max(frames - 1, 1))
        out[i, h // 3:h // 3 + side, x:x + side] = colour
    return out


def run(quick: bool) -> dict:
    try:
        from crossclr_lab.experts import appearance
        from crossclr_lab.experts import video as v
        from crossclr_lab.experts.text_encoder import embed_texts
        appearance.check_installed()
        v._av()
    except ImportError as err:
        return {"skipped": f"the video extra is not installed ({err})"}
    shape = QUICK if quick else FULL
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = appearance.load_lite0()
        embed_texts(["warm up"])
        stages = {"decode": 0.0, "resize": 0.0, "network": 0.0, "text": 0.0}
        decoded = sampled = 0
        with tempfile.TemporaryDirectory() as tmp:
            paths = [v.write_video(Path(tmp) / f"clip{k}.mp4", _frames(k, shape["frames"], shape["size"]), fps=24)
                     for k in range(shape["clips"])]
            appearance.extract(model, v.read_clip(paths[0]).pixels)          # warm up
            for k, path in enumerate(paths):
                av = v._av()
                t0 = time.perf_counter()
                with av.open(str(path)) as c:
                    n = sum(1 for p in c.demux(c.streams.video[0]) if p.size)
                with av.open(str(path)) as c:
                    for _ in c.decode(video=0):
                        pass
                t1 = time.perf_counter()
                clip = v.read_clip(path)                                     # decode + resize
                t2 = time.perf_counter()
                appearance.extract(model, clip.pixels)
                t3 = time.perf_counter()
                embed_texts([f"a square of colour {k} sliding to the right"])
                t4 = time.perf_counter()
                stages["decode"] += t1 - t0
                stages["resize"] += max((t2 - t1) - (t1 - t0), 0.0)
                stages["network"] += t3 - t2
                stages["text"] += t4 - t3
                decoded += n
                sampled += len(clip.pixels)
    finally:
        torch.set_num_threads(threads)
    video_s = stages["decode"] + stages["resize"] + stages["network"]
    return {"shape": {**shape, "size": list(shape["size"])}, "frames_decoded": decoded, "frames_network": sampled,
            "seconds": stages, "fps": decoded / video_s, "network_fps": sampled / stages["network"],
            "goal_fps": GOAL_FPS, "goal_met": decoded / video_s >= GOAL_FPS if not quick else None}


def lines(result: dict) -> list[str]:
    """The Markdown of :func:`run`'s result."""
    if "skipped" in result or "error" in result:
        return [f"Not measured: {result.get('skipped') or result.get('error')}."]
    s, sec = result["shape"], result["seconds"]
    total = sum(sec.values())
    rows = [f"| {name} | {t:.2f} | {100 * t / total:.0f} % |" for name, t in sec.items()]
    met = result["goal_met"]
    return [f"{s['clips']} H.264 clips of {s['frames']} frames at {s['size'][1]}x{s['size'][0]} (written here with "
            f"PyAV), one torch thread; {result['frames_decoded']} frames decoded, {result['frames_network']} through "
            "the network (8 sampled per clip).", "",
            "| stage | seconds | share |", "|---|---|---|", *rows, "",
            f"Decoding + appearance expert: **{result['fps']:.0f} decoded frames/s** (network alone: "
            f"{result['network_fps']:.0f} sampled frames/s). Goal: >= {result['goal_fps']:.0f} frames/s: "
            + ("not judged in quick mode." if met is None else f"**{'met' if met else 'NOT met'}**.")]


if __name__ == "__main__":
    out = run(quick=False)
    print("\n".join(lines(out)))
