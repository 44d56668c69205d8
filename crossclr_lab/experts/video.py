"""Video files to the sampled frames the experts see: decoding (PyAV; Pillow for animated images), sampling,
the appearance network's pixels and the motion grid.

    clip = read_clip("clip.mp4")        # SampledClip: pixels uint8 [U, 160, 160, 3], slots [T], motion [T, 16]
    clip = sample_frames(frames, n)     # the same from any in-order iterator of n PIL frames

Video containers (mp4, webm, mkv, mov, avi, ...) are decoded with PyAV (``av`` on PyPI; its wheels carry
FFmpeg). Animated GIF and WebP are decoded with Pillow, as the Emoji Motion builder decodes its WebP clips
(FFmpeg cannot decode animated WebP). Decoding is two passes over the file: counting the frames (demuxing
only, no decoding) to place the ``T`` sample indices, then decoding in order and converting only the frames
the experts need.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
from PIL import Image

from . import appearance
from .frames import T, distinct_frames, over_white, premultiplied, sample_indices, work_frame
from .motion import DIM as MOTION_DIM
from .motion import motion_grid, previous_index

AV_VERSION = "18.1.0"
AV_INSTALL = f"pip install av=={AV_VERSION}"
VIDEO_SUFFIXES = (".mp4", ".webm", ".mkv", ".mov", ".avi", ".m4v", ".mpg", ".mpeg", ".ogv")
IMAGE_SUFFIXES = (".gif", ".webp")                 # animated images, decoded by Pillow
SUFFIXES = VIDEO_SUFFIXES + IMAGE_SUFFIXES


class VideoError(ValueError):
    """A file that cannot be read as a clip: unreadable, truncated, or without frames (the message says which)."""


@dataclass
class SampledClip:
    """The ``T`` sampled frames of one clip as the experts need them.

    ``pixels`` uint8 ``[U, S, S, 3]``: the distinct sampled frames over white for the appearance network;
    ``slots [T]``: the row of ``pixels`` of each sampled frame; ``work`` float32 ``[T, WORK, WORK, 4]``: the
    sampled frames for weight-free experts; ``motion`` float32 ``[T, 16]``; ``n_frames`` decoded.
    """

    pixels: np.ndarray
    slots: np.ndarray
    work: np.ndarray
    motion: np.ndarray
    n_frames: int


def sample_frames(frames: Iterable, n: int, pixel_size: int = appearance.IMAGE_SIZE, t: int = T,
                  to_image: Callable[[object], Image.Image] | None = None) -> SampledClip:
    """Consume ``n`` frames in order (each valid until the next is drawn) -> :class:`SampledClip`.

    Frames are PIL images, or anything ``to_image`` turns into one; only the sampled frames and the frames
    before them (for the motion grid) are converted. Raises
    :class:`VideoError` when the iterator holds fewer than ``n`` frames.
    """
    if n < 1:
        raise VideoError("the clip has no frames")
    picks = sample_indices(n, t)
    needed = set(picks.tolist()) | {previous_index(s, n) for s in picks}
    work, pixels, seen = {}, {}, 0
    for i, im in enumerate(frames):
        if i >= n:
            break
        seen = i + 1
        if i in needed:
            square = premultiplied(im if to_image is None else to_image(im))
            work[i] = work_frame(square)
            if i in picks:
                pixels[i] = over_white(square, pixel_size)
    if seen < n:
        raise VideoError(f"truncated: {seen} of {n} frames could be decoded")
    unique, slots = distinct_frames([pixels[s] for s in picks.tolist()])
    motion = np.stack([motion_grid(work[s], work[previous_index(s, n)]) for s in picks.tolist()])
    return SampledClip(pixels=unique, slots=slots, work=np.stack([work[s] for s in picks.tolist()]),
                       motion=motion.reshape(t, MOTION_DIM), n_frames=n)


def _av():
    try:
        import av
    except ImportError:
        raise ImportError(f"reading video files needs PyAV: pip install -e '.[video]' in the repository "
                          f"(or: {AV_INSTALL}); `make install` installs it") from None
    return av


def av_version() -> str | None:
    """The installed PyAV version, or None."""
    try:
        return metadata.version("av")
    except metadata.PackageNotFoundError:
        return None


def _rgba(frame) -> Image.Image:
    return Image.fromarray(frame.to_ndarray(format="rgba"), "RGBA")


def _read_video(path: Path, pixel_size: int, t: int) -> SampledClip:
    av = _av()
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoError("no video stream")
            n = sum(1 for packet in container.demux(container.streams.video[0]) if packet.size)
        if n == 0:
            raise VideoError("a video stream without frames")
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            return sample_frames(container.decode(stream), n, pixel_size, t, to_image=_rgba)
    except av.error.FFmpegError as err:
        raise VideoError(f"unreadable or truncated ({type(err).__name__}: {err.strerror})") from None


def image_frames(im: Image.Image):
    """Every frame of an open (animated) image, in order: ``im`` itself, advanced and loaded."""
    for i in range(getattr(im, "n_frames", 1)):
        im.seek(i)                                     # forward only: seeking back restarts decoding
        im.load()
        yield im


def _read_image(path: Path, pixel_size: int, t: int) -> SampledClip:
    try:
        with Image.open(path) as im:
            return sample_frames(image_frames(im), getattr(im, "n_frames", 1), pixel_size, t)
    except (OSError, EOFError, SyntaxError, Image.DecompressionBombError) as err:
        raise VideoError(f"unreadable or truncated ({type(err).__name__}: {err})") from None


def read_clip(path: str | os.PathLike, pixel_size: int = appearance.IMAGE_SIZE, t: int = T) -> SampledClip:
    """Decode the video or animated image at ``path`` and sample ``t`` frames -> :class:`SampledClip`.

    Raises :class:`VideoError` for a file that cannot be read, is truncated or has no frames.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise VideoError(f"{suffix or 'no suffix'} is not a video file this kit reads ({' '.join(SUFFIXES)})")
    read = _read_image if suffix in IMAGE_SUFFIXES else _read_video
    return read(path, pixel_size, t)


def write_video(path: str | os.PathLike, frames: np.ndarray, fps: int = 12) -> Path:
    """Encode uint8 RGB frames ``[n, H, W, 3]`` (H, W even) as a video file: H.264 in ``.mp4``/``.mkv``/``.mov``,
    VP9 in ``.webm``, MPEG-4 part 2 in ``.avi``; ``.gif``/``.webp`` are written by Pillow (lossless WebP)."""
    path = Path(path)
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
        raise ValueError(f"frames must be uint8 [n, H, W, 3] with n >= 1, got {frames.dtype} {frames.shape}")
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        images = [Image.fromarray(f) for f in frames]
        extra = {"lossless": True} if suffix == ".webp" else {}
        images[0].save(path, save_all=len(images) > 1, append_images=images[1:], duration=round(1000 / fps),
                       loop=0, **extra)
        return path
    codec = {".webm": "libvpx-vp9", ".avi": "mpeg4"}.get(suffix, "libx264")
    if suffix not in VIDEO_SUFFIXES or frames.shape[1] % 2 or frames.shape[2] % 2:
        raise ValueError(f"write_video writes {' '.join(SUFFIXES)} files of even width and height; got {path.name} "
                         f"with frames {frames.shape[1]}x{frames.shape[2]}")
    av = _av()
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        if codec == "libx264":
            stream.options = {"crf": "18", "preset": "veryfast"}
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
