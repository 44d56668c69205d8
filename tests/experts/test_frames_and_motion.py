"""The shared frame conventions and the motion expert (used by the Emoji Motion builder and ``extract``)."""

import numpy as np
import pytest
from PIL import Image

from crossclr_lab.experts.frames import WORK, distinct_frames, over_white, premultiplied, sample_indices, work_frame
from crossclr_lab.experts.motion import motion_grid, previous_index
from crossclr_lab.experts.video import VideoError, sample_frames


@pytest.mark.parametrize("n", [1, 2, 7, 8, 9, 72])
def test_sample_indices(n):
    s = sample_indices(n)
    assert s.shape == (8,) and s.min() >= 0 and s.max() < n and (np.diff(s) >= 0).all()
    assert s.tolist() == [int((k + 0.5) * n / 8) for k in range(8)]
    if n >= 8:
        assert len(set(s.tolist())) == 8


def test_motion_grid_is_zero_for_a_still_and_local_for_a_move():
    still = np.zeros((WORK, WORK, 4), np.float32)
    assert (motion_grid(still, still) == 0).all()
    moved = still.copy()
    moved[:16, :16] = (1, 0, 0, 1)                       # premultiplied opaque red in the top-left cell
    grid = motion_grid(moved, still).reshape(4, 4)
    assert grid[0, 0] > 0.5 and (np.delete(grid.reshape(-1), 0) == 0).all()
    assert previous_index(0, 5) == 4 and previous_index(3, 5) == 2


def test_squaring_compositing_and_distinct_frames():
    im = Image.new("RGBA", (40, 20), (0, 0, 255, 255))
    square = premultiplied(im)
    assert square.size == (40, 40) and square.mode == "RGBa"
    px = over_white(square, 20)
    assert tuple(px[0, 10]) == (255, 255, 255) and tuple(px[10, 10]) == (0, 0, 255)
    assert work_frame(square).shape == (WORK, WORK, 4)
    a, b = np.zeros((4, 4, 3), np.uint8), np.ones((4, 4, 3), np.uint8)
    unique, slots = distinct_frames([a, a, b, a])
    assert len(unique) == 2 and slots.tolist() == [0, 0, 1, 0]


def test_sample_frames_converts_only_what_it_needs_and_checks_the_count():
    frames = [Image.new("RGB", (32, 32), (10 * i, 0, 0)) for i in range(20)]
    converted = []

    def to_image(x):
        converted.append(x)
        return x

    clip = sample_frames(iter(frames), 20, pixel_size=32, to_image=to_image)
    needed = set(sample_indices(20).tolist()) | {previous_index(s, 20) for s in sample_indices(20)}
    assert len(converted) == len(needed) < 20 and clip.n_frames == 20 and clip.pixels.shape == (8, 32, 32, 3)
    with pytest.raises(VideoError, match="truncated: 5 of 20"):
        sample_frames(iter(frames[:5]), 20)
    with pytest.raises(VideoError, match="no frames"):
        sample_frames(iter([]), 0)
