"""What every loss shares: input checks, normalisation, the (video, text) → parts convention."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..distributed import all_gather_no_grad, all_gather_with_grad, require_process_group


def upcast(x: Tensor) -> Tensor:
    """``x`` in float32 when it is half precision (bf16/fp16 under autocast), else unchanged: soft-max
    statistics are kept in at least float32."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def check_positive(name: str, value: float) -> float:
    """Return ``float(value)``; ``ValueError`` unless it is a finite number > 0."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number > 0, got {value!r}") from None
    if not (value > 0 and value != float("inf")):
        raise ValueError(f"{name} must be a finite number > 0, got {value}")
    return value


def check_pair(video_emb: Tensor, text_emb: Tensor, check_finite: bool = True) -> None:
    """Validate a batch of paired embeddings ``[B, D]`` (same B, same D, B >= 2, finite)."""
    for name, x in (("video_emb", video_emb), ("text_emb", text_emb)):
        if not isinstance(x, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
        if x.dim() != 2:
            raise ValueError(f"{name} must have shape [B, D], got {tuple(x.shape)}; "
                             "pool or flatten time steps before the loss")
        if not x.is_floating_point():
            raise ValueError(f"{name} must be a floating-point tensor, got {x.dtype}")
    if video_emb.shape != text_emb.shape:
        raise ValueError(f"video_emb {tuple(video_emb.shape)} and text_emb {tuple(text_emb.shape)} must have the "
                         "same shape [B, D]: row i of each is one pair, both in the joint space")
    if video_emb.shape[0] < 2:
        raise ValueError(f"a contrastive loss needs a batch of at least 2 pairs, got B={video_emb.shape[0]}")
    if check_finite:
        for name, x in (("video_emb", video_emb), ("text_emb", text_emb)):
            if not torch.isfinite(x).all():
                raise ValueError(f"{name} contains NaN or Inf values; check the model's inputs and learning rate")


def check_features(name: str, feat: Tensor | None, batch_size: int, check_finite: bool = True) -> Tensor:
    """Validate the pooled input features ``[B, D_in]`` that connectivity is computed on."""
    if feat is None:
        raise ValueError(f"{name} is required when pruning or weighting is on: pass the pooled input features "
                         "[B, D_in], or switch them off with prune_threshold=None, weight_temperature=None")
    if not isinstance(feat, Tensor) or feat.dim() != 2 or feat.shape[0] != batch_size:
        shape = tuple(feat.shape) if isinstance(feat, Tensor) else type(feat).__name__
        raise ValueError(f"{name} must have shape [B={batch_size}, D_in], got {shape}")
    if check_finite and not torch.isfinite(feat).all():
        raise ValueError(f"{name} contains NaN or Inf values; check the input feature files")
    return feat


class PairLoss(nn.Module):
    """Base class: ``forward(video_emb, text_emb, video_feat=None, text_feat=None, return_parts=False)``.

    Subclasses implement :meth:`compute` on L2-normalised embeddings and return a parts dict holding at
    least ``loss``, ``loss_video`` (video anchors), ``loss_text`` (text anchors). ``temperature`` passed to
    ``forward`` (a float or a 0-d tensor, e.g. a model's learnable ``exp(log_temperature)``) overrides the
    constructor's value for that call.

    ``gather_distributed=True`` (under ``torchrun``): embeddings and input features of all ranks are
    all-gathered (gradients flow back to each rank's slice), so every rank computes the loss over the
    global batch — its negatives, connectivity, pruning and weighting. Every rank must pass the same local
    batch size (use ``drop_last=True``). Each rank's local gradient is then ``world_size`` times the
    single-process one and DistributedDataParallel's gradient averaging divides it back: parameter
    gradients equal those of one process with the global batch.
    """

    uses_features = False

    def __init__(self, temperature: float = 0.03, check_finite: bool = True, gather_distributed: bool = False):
        super().__init__()
        self.temperature = check_positive("temperature", temperature)
        self.check_finite = check_finite
        if gather_distributed:
            require_process_group(f"{type(self).__name__}(gather_distributed=True)")
        self.gather_distributed = bool(gather_distributed)

    def forward(self, video_emb: Tensor, text_emb: Tensor, video_feat: Tensor | None = None,
                text_feat: Tensor | None = None, return_parts: bool = False,
                temperature: float | Tensor | None = None):
        check_pair(video_emb, text_emb, self.check_finite)
        if self.gather_distributed:
            video_emb, text_emb = all_gather_with_grad(video_emb), all_gather_with_grad(text_emb)
            video_feat = None if video_feat is None else all_gather_no_grad(video_feat)
            text_feat = None if text_feat is None else all_gather_no_grad(text_feat)
        tau = self.temperature if temperature is None else temperature
        v = F.normalize(video_emb, dim=1)
        t = F.normalize(text_emb, dim=1)
        parts = self.compute(v, t, video_feat, text_feat, tau)
        return parts if return_parts else parts["loss"]

    def compute(self, v: Tensor, t: Tensor, video_feat, text_feat, tau) -> dict:
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"


def symmetric_parts(per_video: Tensor, per_text: Tensor, **extra) -> dict:
    """Parts dict for a loss that averages its per-anchor losses ``[B]`` of each side."""
    loss_video, loss_text = per_video.mean(), per_text.mean()
    return {"loss": (loss_video + loss_text) / 2, "loss_video": loss_video, "loss_text": loss_text,
            "per_sample_video": per_video, "per_sample_text": per_text, **extra}
