"""The ``motion`` expert: a weight-free 4x4 grid of motion energy per sampled frame.

For a sampled frame ``s`` of an ``n``-frame clip, the mean absolute difference between the frame and the one
before it (``s - 1 mod n``: clips loop) over a 4x4 grid, both composited over white at ``WORK x WORK``
(see :mod:`.frames`), in [0, 1]. A single-frame clip has motion 0.
"""

from __future__ import annotations

import numpy as np

from .frames import blocks, composite

GRID = 4
DIM = GRID * GRID


def previous_index(s: int, n: int) -> int:
    """The frame a sampled frame ``s`` is compared with: ``s - 1`` (the last frame for ``s = 0``)."""
    return int(s - 1) % n


def motion_grid(current: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """Two premultiplied RGBa work frames ``[WORK, WORK, 4]`` -> float32 ``[16]`` mean |difference| per cell."""
    diff = np.abs(composite(current) - composite(previous)).mean(-1)
    return blocks(diff, GRID).reshape(-1).astype(np.float32)
