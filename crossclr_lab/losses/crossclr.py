"""CrossCLR (Zolfaghari et al., ICCV 2021): cross-modal contrastive loss with intra-modality negatives,
connectivity-based pruning of likely false negatives, and connectivity weighting."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from ..checks import check_number, check_positive
from .base import LossParts, PairLoss, check_features, row_indices, upcast, whole
from .queue import FeatureQueue

INTRA_WEIGHT_MODES = ("similarity", "logits")
PAPER_KAPPA = 3.5e-3   # κ, the weight temperature of the paper's experiments: the default
_LEFT_OUT = torch.finfo(torch.float32).min   # a logit whose exp is exactly 0: the entry is left out


class CrossCLRLoss(PairLoss):
    """The CrossCLR loss, every component switchable.

    Video anchor i (text anchors mirror it, with text connectivity and the text queue)::

        L_v(i) = -log [ δ(v_i, t_i) / ( δ(v_i, t_i) + Σ_{k ∈ N_inter(i)} δ(v_i, t_k)
                                        + λ Σ_{x ∈ N_intra(i)} δ(v_i, x) ) ],   δ(a, b) = exp(aᵀb / τ)

    Exact semantics:

    - embeddings are L2-normalised inside the loss; s(a, b) = aᵀb.
    - ``N_inter(i)``: the batch's texts k ≠ i (never the queue), minus pruned ones.
    - ``N_intra(i)``: the batch's videos k ≠ i, minus pruned ones, plus every filled video entry of the
      queue (a :class:`~crossclr_lab.losses.queue.FeatureQueue`: the last ``Q`` batches' normalised detached
      embeddings, a memory of recent samples that adds negatives beyond the batch) as it was *before* this
      batch is enqueued. ``intra_weight_on="similarity"`` (the paper)
      adds λ·δ per intra negative (log λ added to the logit); ``"logits"`` (the authors' code) uses
      exp(λ·s/τ). ``intra_weight=0`` removes intra negatives in both modes.
    - connectivity ``C_i`` (per modality, cosine of the pooled *input* features, no gradient): the mean
      similarity of sample i to the other batch samples and the filled queue entries (self excluded).
    - pruning: ``Ĉ_i = C_i / max_j C_j`` over the batch (no pruning when that max <= 0); sample k is
      influential when ``Ĉ_k > γ``. For video anchors each influential video k ≠ i leaves N_intra(i) and
      its text t_k leaves N_inter(i) (video connectivity decides); text anchors use text connectivity.
      Queue entries are never pruned; an anchor's own positive is never removed.
    - weighting: ``c_i = C_i / Σ_j C_j``, ``w_i = exp(c_i / κ)``; side loss ``Σ w_i L_i / Σ w_i``
      (uniform weights when ``Σ C <= 0``). Returned weights are rescaled to mean 1.
    - ``loss = (loss_video + loss_text) / 2``; then, in training mode only, the batch (normalised detached
      embeddings and input features) is enqueued, FIFO, in the queue's registered buffers.

    Caveat on weighting: ``c_i = C_i / Σ_j C_j`` assumes connectivities that are mostly positive (as with
    ReLU features such as the paper's S3D). When input cosines centre on 0 (e.g. PCA-reduced features),
    ``Σ C`` is small, the ``c_i`` are large and ``exp(c_i / κ)`` at κ = 3.5e-3 puts almost all the weight on
    one or two samples (Emoji Motion's hand-crafted video features: the largest weight share is about 0.7 in a
    typical batch of 64; its pretrained ones: about 0.035). Check :meth:`parts`' weights, or
    :func:`crossclr_lab.losses.weight_share.weight_share_stats`, before trusting the default κ on new features.

    Switches: ``intra_weight=0``, ``prune_threshold=None``, ``weight_temperature=None``, ``queue_size=0``;
    with all four off the loss equals :class:`InfoNCELoss`.

    Differences from the authors' public code (``trainer/loss.py``), each on purpose:

    1. Excluded entries are left out of the log-sum-exp; the public code multiplies them by 0, so each still
       adds exp(0) = 1 to the denominator (a bug: a pruned negative should weigh nothing).
    2. λ multiplies δ as in the paper's equation; ``intra_weight_on="logits"`` reproduces the code's λ·logit.
    3. Connectivity is the cosine of L2-normalised input features; the code takes the raw dot product of the
       features as passed (its trainer passes un-normalised mean-pooled features), so there a feature's
       norm, not only its direction, decides connectivity. The paper defines it by similarity, and the
       cosine keeps ``Ĉ`` in [-1, 1] whatever the feature scale.
    4. No pruning when ``max C <= 0`` and uniform weights when ``Σ C <= 0``; there everything is pruned and
       the weights flip sign. With non-positive connectivity the ratios ``C / max C`` and ``C / Σ C`` no
       longer rank samples by connectivity, so the safe reading is "no sample stands out".
    5. One strict rule ``Ĉ > γ`` for both negative sets; the code removes a sample from the intra negatives
       at ``Ĉ >= γ`` but from the inter negatives at ``Ĉ > γ``, so at γ = 1 it still prunes the most
       connected sample from the intra set. Here γ = 1 prunes nothing, as "above the threshold" reads.
    6. No ``.cuda()``: everything follows the input's device.

    Args:
        temperature: τ > 0. intra_weight: λ >= 0. prune_threshold: γ in (0, 1] or None.
        weight_temperature: κ > 0 or None. queue_size: Q >= 0 entries per modality.
        intra_weight_on: ``"similarity"`` or ``"logits"``.
        chunk_size: ``None`` (default) computes each side's ``[B, B + Q]`` blocks at once. An int computes
            the anchors in chunks of that many rows and recomputes each chunk in backward
            (``torch.utils.checkpoint``), so memory grows as ``chunk_size·(B + Q)`` instead of ``B·(B + Q)``,
            for batches that do not fit otherwise; same values, about twice the matrix work. The
            ``[B, B]`` logits and masks of :class:`LossParts` are then ``None``. Under ``local_loss`` it chunks
            this rank's rows.
        gather_distributed, local_loss: the global batch of several processes, each computing its own
            anchors (see :class:`~crossclr_lab.losses.base.PairLoss`). Connectivity, pruning and weighting are
            over the global batch and queue; every rank enqueues the global batch, so the queues stay equal.

    Example::

        loss_fn = CrossCLRLoss(queue_size=3000)
        loss = loss_fn(video_emb, text_emb, video_feat, text_feat)   # [B, D], [B, D], [B, Dv], [B, Dt]
        parts = loss_fn.parts(video_emb, text_emb, video_feat, text_feat)   # LossParts: weights, masks, ...
    """

    # The switchable components (constructor arguments) and the value that switches each off; the ablation
    # (crossclr_lab.experiments.comparison.ablation_variants) and the CLI's flags read them here.
    COMPONENTS = ("intra_weight", "prune_threshold", "weight_temperature", "queue_size")
    COMPONENTS_OFF = {"intra_weight": 0.0, "prune_threshold": None, "weight_temperature": None, "queue_size": 0}

    def __init__(self, temperature: float = 0.03, intra_weight: float = 0.8, prune_threshold: float | None = 0.9,
                 weight_temperature: float | None = PAPER_KAPPA, queue_size: int = 0,
                 intra_weight_on: str = "similarity", check_finite: bool = True,
                 gather_distributed: bool = False, chunk_size: int | None = None, local_loss: bool = False):
        super().__init__(temperature=temperature, check_finite=check_finite, gather_distributed=gather_distributed,
                         local_loss=local_loss)
        if not (isinstance(intra_weight, (int, float)) and math.isfinite(intra_weight) and intra_weight >= 0):
            raise ValueError(f"intra_weight (λ) must be a finite number >= 0 (0 switches intra negatives off), "
                             f"got {intra_weight!r}")
        if prune_threshold is not None:
            check_number("prune_threshold (γ)", prune_threshold, above=0, maximum=1, hint="None switches pruning off")
        if weight_temperature is not None:
            weight_temperature = check_positive("weight_temperature (κ; None switches weighting off)",
                                                weight_temperature)
        if intra_weight_on not in INTRA_WEIGHT_MODES:
            raise ValueError(f"intra_weight_on must be one of {INTRA_WEIGHT_MODES}, got {intra_weight_on!r}")
        if chunk_size is not None and (isinstance(chunk_size, bool) or not isinstance(chunk_size, int)
                                       or chunk_size < 1):
            raise ValueError(f"chunk_size must be an int >= 1, or None for no chunking, got {chunk_size!r}")
        self.chunk_size = chunk_size
        self.intra_weight = float(intra_weight)
        self.prune_threshold = None if prune_threshold is None else float(prune_threshold)
        self.weight_temperature = weight_temperature
        self.queue = FeatureQueue(queue_size)
        self.intra_weight_on = intra_weight_on

    @property
    def queue_size(self) -> int:
        return self.queue.size

    @property
    def uses_features(self) -> bool:
        """Whether ``video_feat``/``text_feat`` are needed (pruning or weighting is on)."""
        return self.prune_threshold is not None or self.weight_temperature is not None

    def compute(self, v, t, video_feat, text_feat, tau, rows):
        b = len(v)
        if self.uses_features:
            video_feat = F.normalize(check_features("video_feat", video_feat, b, self.check_finite).detach(), dim=1)
            text_feat = F.normalize(check_features("text_feat", text_feat, b, self.check_finite).detach(), dim=1)
        queue = self.queue.contents(v, video_feat, text_feat)

        with torch.no_grad():
            if self.uses_features:
                conn_v = connectivity(video_feat, queue.video_feat, queue.valid)
                conn_t = connectivity(text_feat, queue.text_feat, queue.valid)
            else:
                conn_v = conn_t = torch.zeros(b, device=v.device)
            infl_v, infl_t = influential(conn_v, self.prune_threshold), influential(conn_t, self.prune_threshold)
            weight_v, weight_t = self._weights(conn_v), self._weights(conn_t)

        blocks = {}
        if not whole(rows, b) or (self.chunk_size is not None and self.chunk_size < b):
            per_v = self._rows_side(v, t, rows, queue.video, queue.valid, infl_v, tau)
            per_t = self._rows_side(t, v, rows, queue.text, queue.valid, infl_t, tau)
        else:
            # [B, B] logits, rows video anchors, columns text anchors; 1/τ scales [B, D], not [B, B]
            logits_vt = upcast((v / tau) @ t.T)
            side_v = self._side(logits_vt, 1, v, queue.video, queue.valid, infl_v, tau)
            side_t = self._side(logits_vt, 0, t, queue.text, queue.valid, infl_t, tau)
            per_v, per_t = side_v["per_sample"], side_t["per_sample"]
            blocks = {"inter_mask_video": side_v["inter_mask"], "inter_mask_text": side_t["inter_mask"],
                      "intra_mask_video": side_v["intra_mask"], "intra_mask_text": side_t["intra_mask"],
                      "logits_inter": logits_vt.detach(), "logits_intra_video": side_v["intra_logits"],
                      "logits_intra_text": side_t["intra_logits"]}
        loss_video = (weight_v[rows] * per_v).sum() / weight_v.sum()
        loss_text = (weight_t[rows] * per_t).sum() / weight_t.sum()
        if self.training:
            self.queue.enqueue(v, t, video_feat, text_feat)
        return LossParts(loss=(loss_video + loss_text) / 2, loss_video=loss_video, loss_text=loss_text,
                         per_sample_video=per_v, per_sample_text=per_t, weight_video=weight_v[rows],
                         weight_text=weight_t[rows], connectivity_video=conn_v[rows], connectivity_text=conn_t[rows],
                         influential_video=infl_v[rows], influential_text=infl_t[rows],
                         queue_filled=queue.valid.sum(), rows=None if whole(rows, b) else rows, **blocks)

    def _intra_form(self, tau) -> tuple:
        """``(scale, shift)``: intra logits are ``scale · s + shift`` — ``(1/τ, log λ)`` in the paper's form,
        ``(λ/τ, 0)`` in the authors' code's form."""
        if self.intra_weight_on == "similarity":
            return 1.0 / tau, math.log(self.intra_weight)
        return self.intra_weight / tau, 0.0

    def _side(self, logits: Tensor, dim: int, anchors: Tensor, queue_emb: Tensor, queue_valid: Tensor,
              infl: Tensor, tau) -> dict:
        """Per-anchor losses ``[B]`` for one side; the inter logits are ``logits [B, B]`` reduced over ``dim``
        (1: rows are the anchors, video side; 0: columns are, text side, so no transposed copy is made).

        Each block of the denominator (inter, intra batch, intra queue) gets its own log-sum-exp, so no
        ``[B, 2B + Q]`` copy is made. Left-out entries get the float32 minimum added (their exp is exactly
        0): one elementwise pass per block and none in backward, where a masked copy costs two each way.
        The inter block leaves out influential candidates by a ``[B]`` vector; an anchor whose own
        positive is influential gets it back through ``logaddexp``. 1/τ (and λ in "logits" mode) scales
        the ``[B, D]`` anchors before each product; for the queue, log λ is added after the log-sum-exp.
        """
        b = len(anchors)
        eye = torch.eye(b, dtype=torch.bool, device=anchors.device)
        left_out = torch.zeros(b, dtype=logits.dtype, device=logits.device).masked_fill(infl, _LEFT_OUT)
        positive = logits.diagonal()
        lse_inter = torch.logsumexp(logits + (left_out[None, :] if dim == 1 else left_out[:, None]), dim=dim)
        lse_blocks = [torch.where(infl, torch.logaddexp(lse_inter, positive), lse_inter)]
        intra_mask = ~infl[None, :] & ~eye
        intra_logits = None
        if self.intra_weight > 0:
            scale, shift = self._intra_form(tau)
            intra = upcast((anchors * scale) @ anchors.T)                   # [B, B] logits before log λ
            if shift:
                intra = intra + shift
            intra_logits = intra.detach()
            masked = intra + left_out[None, :]
            masked.diagonal().fill_(_LEFT_OUT)                              # self is never a negative
            lse_blocks.append(torch.logsumexp(masked, dim=1))
            if len(queue_emb):
                from_queue = upcast((anchors * scale) @ queue_emb.T)          # [B, Q] logits before log λ
                empty = torch.zeros(queue_valid.shape, dtype=from_queue.dtype, device=from_queue.device)
                empty = empty.masked_fill(~queue_valid, _LEFT_OUT)            # [Q]: 0 filled, float32 min empty
                lse_blocks.append(torch.logsumexp(from_queue + empty, dim=1) + shift)
        else:
            intra_mask = torch.zeros_like(intra_mask)
        log_denominator = torch.logsumexp(torch.stack(lse_blocks, dim=1), dim=1)
        per_sample = log_denominator - positive
        return {"per_sample": per_sample, "inter_mask": ~infl[None, :] & ~eye, "intra_mask": intra_mask,
                "intra_logits": intra_logits}

    def _rows_side(self, anchors: Tensor, others: Tensor, rows: slice, queue_emb: Tensor, queue_valid: Tensor,
                   infl: Tensor, tau) -> Tensor:
        """Per-anchor losses ``[b]`` of the anchors ``rows`` against the whole batch, as ``[b, B + Q]`` blocks;
        with ``chunk_size`` below b in chunks, each recomputed in backward, so no ``[b, B]`` block is kept."""
        from torch.utils.checkpoint import checkpoint

        index = row_indices(rows, anchors.device)
        if self.chunk_size is None or self.chunk_size >= len(index):
            return self._chunk_losses(anchors[rows], index, anchors, others, queue_emb, queue_valid, infl, tau)
        chunks = [slice(i, i + self.chunk_size) for i in range(0, len(index), self.chunk_size)]
        return torch.cat([checkpoint(self._chunk_losses, anchors[rows][c], index[c], anchors, others, queue_emb,
                                     queue_valid, infl, tau, use_reentrant=False) for c in chunks])

    def _chunk_losses(self, chunk: Tensor, rows: Tensor, anchors: Tensor, others: Tensor, queue_emb: Tensor,
                      queue_valid: Tensor, infl: Tensor, tau) -> Tensor:
        """Losses ``[c]`` of the anchors ``chunk [c, D]`` (batch rows ``rows [c]``) against the whole batch."""
        is_self = rows[:, None] == torch.arange(len(anchors), device=anchors.device)[None, :]       # [c, B]
        inter = upcast((chunk / tau) @ others.T)                                                   # [c, B]
        positive = inter.gather(1, rows[:, None]).squeeze(1)
        lse_blocks = [torch.logsumexp(inter.masked_fill(infl[None, :] & ~is_self, _LEFT_OUT), dim=1)]
        if self.intra_weight > 0:
            scale, shift = self._intra_form(tau)
            intra = upcast((chunk * scale) @ anchors.T)
            lse_blocks.append(torch.logsumexp(intra.masked_fill(infl[None, :] | is_self, _LEFT_OUT), dim=1) + shift)
            if len(queue_emb):
                from_queue = upcast((chunk * scale) @ queue_emb.T).masked_fill(~queue_valid[None, :], _LEFT_OUT)
                lse_blocks.append(torch.logsumexp(from_queue, dim=1) + shift)
        return torch.logsumexp(torch.stack(lse_blocks, dim=1), dim=1) - positive

    def _weights(self, conn: Tensor) -> Tensor:
        """Per-sample weights ``[B]`` with mean 1 (all ones when weighting is off or Σ C <= 0)."""
        total = conn.sum()
        if self.weight_temperature is None:
            return torch.ones_like(conn)
        scaled = conn / total.where(total > 0, torch.ones_like(total)) / self.weight_temperature
        weights = torch.softmax(scaled, dim=0) * len(conn)
        return weights.where(total > 0, torch.ones_like(weights))

    def reset_queue(self) -> None:
        """Empty the queue (e.g. between independent runs that reuse this loss object)."""
        self.queue.reset()

    def extra_repr(self) -> str:
        return (f"temperature={self.temperature}, intra_weight={self.intra_weight}, "
                f"prune_threshold={self.prune_threshold}, weight_temperature={self.weight_temperature}, "
                f"queue_size={self.queue_size}, intra_weight_on={self.intra_weight_on!r}")


def connectivity(feat: Tensor, queue_feat: Tensor | None = None, queue_valid: Tensor | None = None) -> Tensor:
    """Mean cosine similarity of each row of ``feat [B, D]`` to the other rows and the valid rows of
    ``queue_feat [Q, D]`` (``queue_valid [Q]`` bool). Inputs are L2-normalised already.

    Uses ``Σ_j cos(f_i, f_j) = f_i · Σ_j f_j``: O((B + Q)·D), no B×B matrix. Returns ``[B]`` in at least float32.
    """
    feat = upcast(feat)
    total = feat.sum(0)
    count = torch.tensor(len(feat) - 1, dtype=feat.dtype, device=feat.device)
    if queue_feat is not None and len(queue_feat):
        valid = queue_valid.to(feat.dtype)
        total = total + valid @ queue_feat.to(feat.dtype)
        count = count + valid.sum()
    self_sim = (feat * feat).sum(1)
    return (feat @ total - self_sim) / count


def influential(conn: Tensor, threshold: float | None) -> Tensor:
    """Boolean ``[B]``: ``conn / max(conn) > threshold`` (all False when threshold is None or max <= 0)."""
    if threshold is None:
        return torch.zeros_like(conn, dtype=torch.bool)
    top = conn.max()
    return (conn / top.clamp_min(torch.finfo(conn.dtype).tiny) > threshold) & (top > 0)
