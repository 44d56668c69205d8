"""Two named views of Emoji Motion as one paired dataset: contrast any two of the text and the video experts.

The paper's third finding (its LSMDC modality-to-modality table) is that CrossCLR also helps between two
video experts, not only between video and text. :class:`PairedFeatures` keeps its two slots, named
``video`` and ``text``; here the first view fills the ``video`` slot and the second the ``text`` slot, so the
trainer, the losses and the metrics work unchanged ("T→V" then retrieves the first view from the second)::

    train = load_view_pair(("appearance", "motion"), "train")      # [N, 8, 1280] and [N, 8, 16]
    train = load_view_pair(("motion", "text"), "train")            # [N, 8, 16] and [N, 384]
"""

from __future__ import annotations

import torch

from .emoji_motion import VIDEO_FEATURES, load_emoji_motion
from .paired import PairedFeatures

VIEWS: tuple[str, ...] = ("text", *VIDEO_FEATURES)


def check_views(views) -> tuple[str, str]:
    """``views`` as a pair of distinct names from :data:`VIEWS`; ``ValueError`` listing the choices otherwise."""
    choices = ", ".join(repr(v) for v in VIEWS)
    if isinstance(views, str) or len(views) != 2:
        raise ValueError(f"a view pair is two names from {choices}, got {views!r}")
    unknown = [v for v in views if v not in VIEWS]
    if unknown:
        raise ValueError(f"unknown view(s) {', '.join(map(repr, unknown))}; choose two of {choices}")
    if views[0] == views[1]:
        raise ValueError(f"a view pair needs two different views, got {views[0]!r} twice")
    return views[0], views[1]


def load_view_pair(views, split: str = "train", split_kind: str = "concept", include_static: bool = False,
                   root=None) -> PairedFeatures:
    """Emoji Motion with view ``views[0]`` in the ``video`` slot and ``views[1]`` in the ``text`` slot.

    A video expert keeps its frames (``[N, 8, D]``); the text view is the caption embedding (``[N, 384]``; in
    the ``video`` slot one step ``[N, 1, 384]``). Ids, captions, groups and thumbnails are the clips', so
    semantic metrics and maps work as for video–text. Other arguments as in :func:`load_emoji_motion`.
    """
    first, second = check_views(views)
    experts = [v for v in (first, second) if v != "text"]
    data = {v: load_emoji_motion(split, split_kind, include_static, root, video_features=v) for v in experts}
    base = data[experts[0]]
    n = len(base)

    def frames(view: str) -> tuple[torch.Tensor, torch.Tensor]:
        if view == "text":
            return base.text[:, None, :], torch.ones(n, dtype=torch.long)
        return data[view].video, data[view].video_lengths

    video, video_lengths = frames(first)
    text, text_lengths = (base.text, None) if second == "text" else frames(second)
    return PairedFeatures(video=video, video_lengths=video_lengths, text=text, text_lengths=text_lengths,
                          captions=base.captions, ids=base.ids, groups=base.groups,
                          name=f"emoji_motion:{first}↔{second}", thumbnail_fn=base.thumbnail_fn)
