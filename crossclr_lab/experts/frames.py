"""Frame sampling and the per-frame pixel conventions shared by every video expert.

A clip of ``n`` frames is read at ``T`` indices ``floor((k + 0.5) * n / T)`` (the centres of ``T`` equal bins).
Each sampled frame is premultiplied by alpha and padded to a square (transparent), then

- resized bilinearly to ``size x size`` and composited over white (uint8) for the appearance network, and
- box-resized to ``WORK x WORK`` (float RGBa in [0, 1]) for the weight-free experts (the motion grid).

Opaque video frames go through the same steps with alpha 255, so a video file and an animated WebP of the
same pixels give the same features.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

T = 8                # frames per clip
WORK = 64            # working resolution of the weight-free experts


def sample_indices(n: int, t: int = T) -> np.ndarray:
    """``t`` frame indices spread uniformly over ``n`` frames (centres of ``t`` equal bins)."""
    return np.floor((np.arange(t) + 0.5) * n / t).astype(np.int64)


def premultiplied(im: Image.Image) -> Image.Image:
    """Current frame -> premultiplied RGBa, padded to a square (transparent pixels carry arbitrary RGB)."""
    frame = im.convert("RGBA")
    if frame.width != frame.height:                    # pad, do not squash
        side = max(frame.size)
        canvas = Image.new("RGBA", (side, side), (0, 0, 0, 0))
        canvas.paste(frame, ((side - frame.width) // 2, (side - frame.height) // 2))
        frame = canvas
    return frame.convert("RGBa")                       # premultiply before resizing


def work_frame(frame: Image.Image) -> np.ndarray:
    """Premultiplied square frame -> RGBa at ``WORK x WORK``, float32 ``[WORK, WORK, 4]`` in [0, 1]."""
    return np.asarray(frame.resize((WORK, WORK), Image.Resampling.BOX), dtype=np.float32) / 255.0


def over_white(frame: Image.Image, size: int) -> np.ndarray:
    """Premultiplied square frame -> RGB composited over white at ``size x size``, uint8 ``[size, size, 3]``."""
    x = np.asarray(frame.resize((size, size), Image.Resampling.BILINEAR), dtype=np.float32)
    return np.clip(np.rint(x[..., :3] + (255.0 - x[..., 3:])), 0, 255).astype(np.uint8)


def composite(work: np.ndarray) -> np.ndarray:
    """Premultiplied RGBa ``[H, W, 4]`` in [0, 1] -> RGB over white ``[H, W, 3]``."""
    return work[..., :3] + (1.0 - work[..., 3:])


def blocks(x: np.ndarray, grid: int) -> np.ndarray:
    """Mean over a ``grid x grid`` partition of the first two axes of ``x [H, W, ...]``."""
    h = x.shape[0] // grid
    return x.reshape(grid, h, grid, h, *x.shape[2:]).mean(axis=(1, 3))


def distinct_frames(pixels: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The ``T`` sampled frames ``[S, S, 3]`` -> (distinct ones ``[U, S, S, 3]`` in first-seen order,
    ``slots [T]``: the row of each sampled frame). Identical frames (a static clip: all) are kept once."""
    keys = [p.tobytes() for p in pixels]
    distinct = list(dict.fromkeys(keys))
    slots = np.array([distinct.index(k) for k in keys], np.int64)
    shape = pixels[0].shape
    return np.stack([np.frombuffer(k, np.uint8).reshape(shape) for k in distinct]), slots
