"""What every loss shares: input checks, normalisation, the (video, text) → :class:`LossParts` convention."""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch
from torch import Tensor, nn

from .. import distributed
from ..checks import check_positive
from ..distributed import all_gather_no_grad, all_gather_with_grad, require_process_group
from ..utils import l2_normalize


def upcast(x: Tensor) -> Tensor:
    """``x`` in float32 when it is half precision (bf16/fp16 under autocast), else unchanged: soft-max
    statistics are kept in at least float32."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


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
    if not feat.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {feat.dtype}: convert it with .float()")
    if check_finite and not torch.isfinite(feat).all():
        raise ValueError(f"{name} contains NaN or Inf values; check the input feature files")
    return feat


@dataclass
class LossParts:
    """The named parts of one loss evaluation (``loss_fn.parts(...)`` or ``loss_fn(..., return_parts=True)``).

    Every loss fills the first five fields; the others are ``None`` where a loss has no such part. ``B`` is
    the batch size the loss saw (the global batch under ``gather_distributed``), ``Q`` the queue size.

    Under ``local_loss=True`` (see :class:`PairLoss`) a rank computes only its own anchors: every per-anchor
    field (``per_sample_*``, ``weight_*``, ``connectivity_*``, ``influential_*``) then holds the ``b`` rows
    ``rows`` of the global batch (so they line up with each other), the ``[B, B]`` blocks are ``None``, and
    the scalars (``loss``, ``loss_video``, ``loss_text``, ``queue_filled``) are the global values, equal on
    every rank. ``weight_*`` keep their global scale (mean 1 over the global batch, not over the slice).

    Attributes:
        loss: the scalar that is minimised, ``(loss_video + loss_text) / 2``.
        loss_video, loss_text: each side's scalar (video anchors, text anchors).
        per_sample_video, per_sample_text: ``[B]`` per-anchor losses, before any weighting.
        logits_inter: ``[B, B]`` cross-modal logits ``s(v_i, t_k) / τ`` (rows video, columns text), detached.
        weight_video, weight_text: ``[B]`` CrossCLR's connectivity weights, rescaled to mean 1.
        connectivity_video, connectivity_text: ``[B]`` CrossCLR's connectivity ``C_i``.
        influential_video, influential_text: ``[B]`` bool, CrossCLR's pruned (influential) samples.
        queue_filled: 0-d, filled queue slots before this batch (CrossCLR).
        inter_mask_video, inter_mask_text: ``[B, B]`` bool, kept inter-modality negatives per anchor row.
        intra_mask_video, intra_mask_text: ``[B, B]`` bool, kept intra-modality batch negatives per anchor row.
        logits_intra_video, logits_intra_text: ``[B, B]`` intra logits (log λ included in the paper's form).
        rows: the rows of the global batch the per-anchor fields cover (``local_loss``); ``None``: all of them.

    CrossCLR's chunked path (``chunk_size < B``) never builds the ``[B, B]`` blocks: there ``logits_*`` and
    ``*_mask_*`` are ``None``.
    """

    loss: Tensor
    loss_video: Tensor
    loss_text: Tensor
    per_sample_video: Tensor
    per_sample_text: Tensor
    logits_inter: Tensor | None = None
    weight_video: Tensor | None = None
    weight_text: Tensor | None = None
    connectivity_video: Tensor | None = None
    connectivity_text: Tensor | None = None
    influential_video: Tensor | None = None
    influential_text: Tensor | None = None
    queue_filled: Tensor | None = None
    inter_mask_video: Tensor | None = None
    inter_mask_text: Tensor | None = None
    intra_mask_video: Tensor | None = None
    intra_mask_text: Tensor | None = None
    logits_intra_video: Tensor | None = None
    logits_intra_text: Tensor | None = None
    rows: slice | None = None

    def scalars(self) -> dict[str, float]:
        """The 0-d parts as Python floats (for logs and records), e.g. ``{"loss": 4.1, "loss_video": ...}``."""
        return {f.name: value.item() for f in fields(self)
                if torch.is_tensor(value := getattr(self, f.name)) and value.numel() == 1 and value.dim() == 0}


class PairLoss(nn.Module):
    """Base class: ``forward(video_emb, text_emb, video_feat=None, text_feat=None)`` → the scalar loss;
    :meth:`parts` (or ``forward(..., return_parts=True)``) → :class:`LossParts`.

    Subclasses implement :meth:`compute` on L2-normalised embeddings: the per-anchor losses of the anchors
    ``rows`` (a slice of the batch: all of it except under ``local_loss``) against the whole batch, their
    terms of the whole batch's mean, as :class:`LossParts`.
    ``temperature`` passed to ``forward`` (a float or a 0-d tensor, e.g. a model's learnable
    ``exp(log_temperature)``) overrides the constructor's value for that call.

    Class attributes tell a trainer what to pass, so it needs no per-loss cases: ``uses_features`` (the pooled
    input features ``video_feat``/``text_feat`` are needed) and ``uses_temperature`` (a temperature divides the
    similarities; ``False`` for a margin loss, which a model's learnable temperature must not be passed to).

    ``gather_distributed=True`` (under ``torchrun``): embeddings and input features of all ranks are
    all-gathered (gradients flow back to each rank's slice, summed over the ranks), so the loss is over the
    global batch of ``B = N·b`` pairs — its negatives, connectivity, pruning and weighting. Every rank must
    pass the same local batch size ``b`` (use ``drop_last=True``). Then:

    - ``local_loss=False``: every rank computes the whole global loss ``L`` (all ``B`` anchors), the same
      work on every rank whatever N. The gather's backward sums N equal gradients, so each rank's
      embedding gradient is ``N·∂L/∂z``, and DistributedDataParallel's averaging divides the N back.
    - ``local_loss=True``: rank r computes only its own ``b`` anchors (rows ``r·b .. (r+1)·b`` of the
      global batch) against all ``B`` columns (and the queue): ``[b, B + Q]`` blocks, about 1/N of the
      block work and memory. CrossCLR's global quantities (connectivity, the pruning max, the weights' sums)
      come from the gathered ``[B, D_in]`` input features, which every rank needs anyway to enqueue. The
      rank's part of the global mean, ``L_r`` (its anchors' terms over the global normaliser, so
      ``Σ_r L_r = L``), is backpropagated as ``N·L_r``: the gather's backward gives rank r
      ``N·Σ_r' ∂L_r'/∂z = N·∂L/∂z`` for its embeddings ``z`` (rows through ``L_r``, columns through every
      rank's ``L_r'``), and DDP's averaging divides the N back: exactly the single-process gradient.

    In both modes the returned scalars have the global values (``local_loss`` all-reduces the N parts), so
    logs read as in one process, and ``backward()`` followed by DDP's gradient averaging gives the
    single-process gradient. ``local_loss`` needs ``gather_distributed``; under it :class:`LossParts`
    holds this rank's rows.
    """

    uses_features = False
    uses_temperature = True

    def __init__(self, temperature: float = 0.03, check_finite: bool = True, gather_distributed: bool = False,
                 local_loss: bool = False):
        super().__init__()
        self.temperature = check_positive("temperature", temperature)
        self.check_finite = check_finite
        if local_loss and not gather_distributed:
            raise ValueError("local_loss=True computes this rank's anchors against the gathered global batch: "
                             "it needs gather_distributed=True too")
        if gather_distributed:
            require_process_group(f"{type(self).__name__}(gather_distributed=True)")
        self.gather_distributed = bool(gather_distributed)
        self.local_loss = bool(local_loss)

    def forward(self, video_emb: Tensor, text_emb: Tensor, video_feat: Tensor | None = None,
                text_feat: Tensor | None = None, return_parts: bool = False,
                temperature: float | Tensor | None = None) -> Tensor | LossParts:
        parts = self.parts(video_emb, text_emb, video_feat, text_feat, temperature=temperature)
        return parts if return_parts else parts.loss

    def parts(self, video_emb: Tensor, text_emb: Tensor, video_feat: Tensor | None = None,
              text_feat: Tensor | None = None, temperature: float | Tensor | None = None) -> LossParts:
        """The loss and its named parts (see :class:`LossParts`); same arguments as ``forward``."""
        check_pair(video_emb, text_emb, self.check_finite)
        b = len(video_emb)
        if self.gather_distributed:
            video_emb, text_emb = all_gather_with_grad(video_emb), all_gather_with_grad(text_emb)
            video_feat = None if video_feat is None else all_gather_no_grad(video_feat)
            text_feat = None if text_feat is None else all_gather_no_grad(text_feat)
        rows = slice(0, len(video_emb))
        if self.local_loss and distributed.is_distributed():
            rows = slice(distributed.rank() * b, (distributed.rank() + 1) * b)
        tau = self.temperature if temperature is None else self._check_temperature(temperature)
        v = l2_normalize(video_emb, dim=1)  # exact for huge finite values too (scaled before the norm)
        t = l2_normalize(text_emb, dim=1)
        parts = self.compute(v, t, video_feat, text_feat, tau, rows)
        return parts if parts.rows is None else _global_scalars(parts)

    def _check_temperature(self, temperature: float | Tensor) -> float | Tensor:
        """A per-call temperature: a number > 0, or a 0-d tensor (checked > 0 and finite when ``check_finite``)."""
        if not isinstance(temperature, Tensor):
            return check_positive("temperature", temperature)
        if temperature.dim() != 0:
            raise ValueError(f"temperature must be a number or a 0-d tensor, got shape {tuple(temperature.shape)}")
        if self.check_finite and not (torch.isfinite(temperature) and temperature > 0):
            raise ValueError(f"temperature must be a finite number > 0, got {temperature.item()}")
        return temperature

    def compute(self, v: Tensor, t: Tensor, video_feat, text_feat, tau, rows: slice) -> LossParts:
        """:class:`LossParts` of the anchors ``rows`` of ``v, t [B, D]`` (its ``rows`` field ``None`` when they
        are all B); ``loss_video``/``loss_text`` sum those anchors' terms of the whole batch's mean."""
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"


def whole(rows: slice, batch_size: int) -> bool:
    """Whether the anchors ``rows`` are all ``batch_size`` of the batch."""
    return rows == slice(0, batch_size)


def row_indices(rows: slice, device) -> Tensor:
    """The anchors' batch indices ``[b]`` (long), i.e. each anchor's positive column."""
    return torch.arange(rows.start, rows.stop, device=device)


def cross_logits(v: Tensor, t: Tensor, rows: slice, tau) -> tuple[Tensor, Tensor]:
    """``(logits_video [b, B], logits_text [b, B])``: the video anchors ``rows`` against every text and the
    text anchors ``rows`` against every video, ``s / τ`` (``tau=None``: plain ``s``). With all rows it is one
    product and the text side is its transpose (a view)."""
    def scaled(x):
        return x if tau is None else x / tau
    if whole(rows, len(v)):
        logits = upcast(scaled(v) @ t.T)
        return logits, logits.T
    return upcast(scaled(v[rows]) @ t.T), upcast(scaled(t[rows]) @ v.T)


def symmetric_parts(per_video: Tensor, per_text: Tensor, batch_size: int, rows: slice, **extra) -> LossParts:
    """:class:`LossParts` of a loss that averages each side's per-anchor losses over the batch; ``per_video``,
    ``per_text`` ``[b]`` are those of the anchors ``rows`` of the ``batch_size``."""
    loss_video, loss_text = per_video.sum() / batch_size, per_text.sum() / batch_size
    return LossParts(loss=(loss_video + loss_text) / 2, loss_video=loss_video, loss_text=loss_text,
                     per_sample_video=per_video, per_sample_text=per_text,
                     rows=None if whole(rows, batch_size) else rows, **extra)


def _global_scalars(parts: LossParts) -> LossParts:
    """This rank's part of a ``local_loss``: ``loss_video``/``loss_text`` take the global value (the sum of
    the ranks' parts) and keep ``world_size`` times the gradient of this rank's part (see :class:`PairLoss`)."""
    local = torch.stack([parts.loss_video, parts.loss_text])
    total = distributed.all_reduce_sum(local)
    scaled = local * distributed.world_size()
    both = total + (scaled - scaled.detach())        # value: the global sum; gradient: N x this rank's part
    parts.loss_video, parts.loss_text = both[0], both[1]
    parts.loss = (both[0] + both[1]) / 2
    return parts
