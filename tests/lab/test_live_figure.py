"""Blitted widget figures and the debouncer that lets slider drags through without a backlog."""

import asyncio
import io

import numpy as np
from matplotlib.figure import Figure
from PIL import Image

from crossclr_lab.lab.live_figure import Debouncer, LiveFigure


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def test_render_draws_the_changed_artists_and_a_rescaled_axis_like_a_full_redraw():
    fig = Figure(figsize=(4, 2), layout="constrained")
    left, right = fig.subplots(1, 2)
    image = left.imshow(np.zeros((4, 4)), vmin=0, vmax=1, animated=True)
    (line,) = right.plot([0, 1], [0, 1], animated=True)
    live = LiveFigure(fig)
    first = live.render([image, line])
    image.set_data(np.eye(4))
    line.set_ydata([0, 50])
    right.set_ylim(0, 60)                                    # a limit change: only that axes is redrawn
    live.invalidate(right)
    blitted = _pixels(live.render([image, line]))
    assert not np.array_equal(_pixels(first), blitted)
    for artist in (image, line):
        artist.set_animated(False)
    live.canvas.draw()
    full = np.asarray(live.canvas.buffer_rgba())[..., :3].astype(int)
    assert (np.abs(blitted - full).max(-1) > 24).mean() < 0.01


def test_debouncer_runs_at_once_without_a_loop_and_once_per_burst_with_one():
    calls = []
    debounced = Debouncer(lambda: calls.append(len(calls)), delay_s=0.02)
    debounced()
    assert calls == [0]                                      # no event loop: immediately

    async def burst():
        for _ in range(5):                                   # a slider drag: five values in quick succession
            debounced()
        await asyncio.sleep(0.1)

    asyncio.run(burst())
    assert calls == [0, 1]                                   # one update, after the last value
    errors = []
    failing = Debouncer(lambda: 1 / 0, on_error=errors.append)
    failing()
    assert isinstance(errors[0], ZeroDivisionError)
