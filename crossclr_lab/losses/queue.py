"""A FIFO memory bank of past embeddings and input features, as a module (MoCo-style registered buffers).

Example::

    queue = FeatureQueue(size=3000)
    contents = queue.contents(v, video_feat, text_feat)   # the queue before this batch
    ...                                                  # use contents.video [Q, D], contents.valid [Q]
    queue.enqueue(v, t, video_feat, text_feat)           # then add the batch, under no_grad
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

_SLOTS = ("video", "text", "video_feat", "text_feat")


@dataclass
class QueueContents:
    """The queue as it was before the current batch.

    ``video``/``text``: ``[Q, D]`` normalised embeddings; ``video_feat``/``text_feat``: ``[Q, D_in]`` normalised
    input features, or ``None`` when the caller passed none; ``valid``: ``[Q]`` bool, the filled slots.
    ``Q = 0`` for an empty or switched-off queue.
    """

    video: Tensor
    text: Tensor
    valid: Tensor
    video_feat: Tensor | None = None
    text_feat: Tensor | None = None


class FeatureQueue(nn.Module):
    """``size`` slots per modality of (embedding, input feature) pairs, filled first-in first-out.

    The buffers are allocated on the first :meth:`enqueue`, when the dimensions are known, and are
    registered: ``.to(device)``, ``state_dict()`` and ``load_state_dict()`` carry them (a loaded queue takes
    the checkpoint's shape). ``size=0`` is a queue that stays empty. Dimension changes raise a clear error;
    :meth:`reset` empties the queue.
    """

    def __init__(self, size: int = 0):
        super().__init__()
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ValueError(f"queue_size must be an int >= 0 (0 = batch only), got {size!r}")
        self.size = size
        for name in _SLOTS:
            self.register_buffer(name, torch.empty(0))
        self.register_buffer("ptr", torch.zeros((), dtype=torch.long))
        self.register_buffer("filled", torch.zeros((), dtype=torch.long))

    @property
    def allocated(self) -> bool:
        return self.video.numel() > 0

    def contents(self, v: Tensor, video_feat: Tensor | None = None, text_feat: Tensor | None = None) -> QueueContents:
        """The queue before this batch, in ``v``'s dtype; ``v [B, D]`` and the features ``[B, D_in]`` only
        fix the dtypes and check the dimensions. ``valid`` is a mask rather than a slice (no device sync)."""
        if self.size == 0 or not self.allocated:
            return QueueContents(
                video=v.new_zeros(0, v.shape[1]), text=v.new_zeros(0, v.shape[1]),
                valid=torch.zeros(0, dtype=torch.bool, device=v.device),
                video_feat=None if video_feat is None else video_feat.new_zeros(0, video_feat.shape[1]),
                text_feat=None if text_feat is None else text_feat.new_zeros(0, text_feat.shape[1]))
        if self.video.shape[1] != v.shape[1]:
            raise ValueError(f"embedding dim {v.shape[1]} differs from the queue's {self.video.shape[1]}; "
                             "call reset_queue() when the model changes")
        # Copies: the buffers are overwritten in place by enqueue before backward runs.
        out = QueueContents(video=self.video.to(v.dtype, copy=True), text=self.text.to(v.dtype, copy=True),
                            valid=torch.arange(self.size, device=v.device) < self.filled)
        for key, feat in (("video_feat", video_feat), ("text_feat", text_feat)):
            if feat is not None:
                stored = getattr(self, key)
                if stored.shape[1] != feat.shape[1]:
                    raise ValueError(f"{key} dim {feat.shape[1]} differs from the queue's {stored.shape[1]}; "
                                     "call reset_queue() when the input features change")
                setattr(out, key, stored.to(feat.dtype))
        return out

    @torch.no_grad()
    @torch.inference_mode(False)     # buffers made under inference_mode could never be updated by training
    def enqueue(self, v: Tensor, t: Tensor, video_feat: Tensor | None = None, text_feat: Tensor | None = None) -> None:
        """Add the batch (the last ``size`` rows when the batch is larger), overwriting the oldest entries (also
        under ``torch.inference_mode()``: the queue stays an ordinary buffer that training can update)."""
        if self.size == 0:
            return
        if not self.allocated:
            self._allocate(v, video_feat, text_feat)
        n = min(len(v), self.size)
        slots = (self.ptr + torch.arange(n, device=self.ptr.device)) % self.size
        self.video[slots] = v[-n:].detach().to(self.video.dtype)
        self.text[slots] = t[-n:].detach().to(self.text.dtype)
        if video_feat is not None:
            self.video_feat[slots] = video_feat[-n:].to(self.video_feat.dtype)
            self.text_feat[slots] = text_feat[-n:].to(self.text_feat.dtype)
        self.ptr.copy_((self.ptr + n) % self.size)
        self.filled.copy_((self.filled + n).clamp_max(self.size))

    def _allocate(self, v: Tensor, video_feat: Tensor | None, text_feat: Tensor | None) -> None:
        dtype = torch.float32 if v.dtype in (torch.float16, torch.bfloat16) else v.dtype
        kind = {"device": v.device, "dtype": dtype}
        self.video = torch.zeros(self.size, v.shape[1], **kind)
        self.text = torch.zeros(self.size, v.shape[1], **kind)
        self.video_feat = torch.zeros(self.size, 0 if video_feat is None else video_feat.shape[1], **kind)
        self.text_feat = torch.zeros(self.size, 0 if text_feat is None else text_feat.shape[1], **kind)
        self.ptr = self.ptr.to(v.device)
        self.filled = self.filled.to(v.device)

    def reset(self) -> None:
        """Empty the queue (e.g. between independent runs that reuse one loss object)."""
        for name in _SLOTS:
            setattr(self, name, getattr(self, name).new_empty(0))
        self.ptr.zero_()
        self.filled.zero_()

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # The queue's shape is set by the first batch; take it from the checkpoint (its number of slots must match).
        rows = {len(state_dict[prefix + n]) for n in _SLOTS if state_dict.get(prefix + n, torch.empty(0)).numel()}
        if rows and rows != {self.size}:
            raise ValueError(f"the queue state has {rows.pop()} slots, this loss's queue has {self.size}: build the "
                             "loss with the queue_size it was saved with, or call reset_queue() instead of loading it")
        for name in _SLOTS:
            if prefix + name in state_dict:
                setattr(self, name, torch.empty_like(state_dict[prefix + name], device=self.ptr.device))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self) -> str:
        return f"size={self.size}"
