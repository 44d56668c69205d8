"""The losses CrossCLR is compared with in the paper's Table 1, all with one signature.

Every loss: ``loss_fn(video_emb [B, D], text_emb [B, D], video_feat=None, text_feat=None)`` → scalar, and
``loss_fn.parts(...)`` → :class:`~crossclr_lab.losses.base.LossParts`; embeddings are L2-normalised inside;
the result is ``(loss_video + loss_text) / 2`` where ``loss_video`` averages over video anchors.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..checks import check_choice, check_number, check_positive
from .base import PairLoss, cross_logits, row_indices, symmetric_parts, upcast, whole


class InfoNCELoss(PairLoss):
    """Symmetric InfoNCE as in CLIP (Radford et al., 2021; van den Oord et al., 2018).

    Video anchor i: ``-log softmax_k(s(v_i, t_k) / τ)[i]`` over the batch's texts; text anchors mirror it.

    Example::

        loss_fn = InfoNCELoss(temperature=0.03)
        loss = loss_fn(video_emb, text_emb)          # [B, D], [B, D] -> scalar
    """

    def compute(self, v, t, video_feat, text_feat, tau, rows):
        logits_v, logits_t = cross_logits(v, t, rows, tau)       # [b, B] each
        target = row_indices(rows, v.device)
        per_video = F.cross_entropy(logits_v, target, reduction="none")
        per_text = F.cross_entropy(logits_t, target, reduction="none")
        blocks = {"logits_inter": logits_v.detach()} if whole(rows, len(v)) else {}
        return symmetric_parts(per_video, per_text, len(v), rows, **blocks)


class NTXentLoss(PairLoss):
    """NT-Xent as in SimCLR (Chen et al., 2020) over the 2B concatenation ``z = [v; t]``.

    Anchor ``z_a`` has its pair as the positive and the other 2B - 2 embeddings (both modalities) as
    negatives: ``-log softmax_{b != a}(z_a·z_b / τ)[pair(a)]``.
    """

    def compute(self, v, t, video_feat, text_feat, tau, rows):
        b = len(v)
        z = torch.cat([v, t])                                     # [2B, D]
        index = row_indices(rows, v.device)
        anchors = torch.cat([index, index + b])                   # [2b]: z's rows of the video, text anchors
        logits = upcast(z[anchors] @ z.T / tau)                   # [2b, 2B]
        logits = logits.masked_fill(anchors[:, None] == torch.arange(2 * b, device=z.device), float("-inf"))
        per_anchor = F.cross_entropy(logits, torch.cat([index + b, index]), reduction="none")
        n = len(index)
        return symmetric_parts(per_anchor[:n], per_anchor[n:], b, rows)


class MaxMarginLoss(PairLoss):
    """Bidirectional hinge (max-margin) ranking loss of VSE / COOT (Kiros et al., 2014; Faghri et al., 2018).

    Video anchor i: ``Σ_{k≠i} max(0, margin - s_ii + s_ik)`` over texts k (``reduction="sum"``), or only the
    hardest negative (``"hardest"``, VSE++); text anchors mirror it. Cosine similarities, no temperature
    (``uses_temperature = False``: a trainer passes no learnable temperature to it).
    """

    uses_temperature = False

    def __init__(self, margin: float = 0.1, reduction: str = "sum", check_finite: bool = True,
                 gather_distributed: bool = False, local_loss: bool = False):
        super().__init__(temperature=1.0, check_finite=check_finite, gather_distributed=gather_distributed,
                         local_loss=local_loss)
        self.margin = check_positive("margin", margin)
        self.reduction = check_choice("reduction", reduction, ("sum", "hardest"))

    def compute(self, v, t, video_feat, text_feat, tau, rows):
        sim_v, sim_t = cross_logits(v, t, rows, None)            # [b, B]: s(v_i, t_k) and s(v_k, t_i)
        index = row_indices(rows, v.device)
        pos = sim_v.gather(1, index[:, None])                   # [b, 1]: s_ii
        off = index[:, None] != torch.arange(len(v), device=v.device)
        cost_video = (self.margin - pos + sim_v).clamp_min(0) * off
        cost_text = (self.margin - pos + sim_t).clamp_min(0) * off
        reduce = (lambda x: x.sum(1)) if self.reduction == "sum" else (lambda x: x.amax(1))
        return symmetric_parts(reduce(cost_video), reduce(cost_text), len(v), rows)

    def extra_repr(self) -> str:
        return f"margin={self.margin}, reduction={self.reduction!r}"


class MILNCELoss(PairLoss):
    """MIL-NCE (Miech et al., CVPR 2020) with one positive caption per clip.

    For pair i the denominator pools both directions, row i (``s(v_i, t_k)``) and column i
    (``s(v_k, t_i)``), as in the authors' implementation: ``L_i = -log(δ_ii / (Σ_k δ_ik + Σ_k δ_ki))``.
    The loss is one term per pair, so ``loss_video`` and ``loss_text`` both equal ``loss``.
    """

    def compute(self, v, t, video_feat, text_feat, tau, rows):
        logits_v, logits_t = cross_logits(v, t, rows, tau)       # row i and column i of the [B, B] logits
        denominator = torch.logsumexp(torch.cat([logits_v, logits_t], dim=1), dim=1)
        per_pair = denominator - logits_v.gather(1, row_indices(rows, v.device)[:, None]).squeeze(1)
        return symmetric_parts(per_pair, per_pair, len(v), rows)


class DebiasedContrastiveLoss(PairLoss):
    """Debiased contrastive loss (Chuang et al., NeurIPS 2020), cross-modal and symmetric; built by name as
    ``"dcl"``. Not the *decoupled* contrastive loss (Yeh et al., 2022) that lightly calls ``DCLLoss``.

    Video anchor i, positive ``p = δ(v_i, t_i)``, the N = B - 1 texts k ≠ i as negatives:
    ``Ng = max((Σ_k δ(v_i, t_k) - N·τ⁺·p) / (1 - τ⁺), N·e^{-1/τ})``, ``L_i = -log(p / (p + Ng))``.
    ``tau_plus`` is the class prior of a false negative; ``tau_plus=0`` gives :class:`InfoNCELoss`.
    """

    def __init__(self, temperature: float = 0.03, tau_plus: float = 0.1, check_finite: bool = True,
                 gather_distributed: bool = False, local_loss: bool = False):
        super().__init__(temperature=temperature, check_finite=check_finite, gather_distributed=gather_distributed,
                         local_loss=local_loss)
        self.tau_plus = check_number("tau_plus", tau_plus, minimum=0, below=1)

    def _side(self, logits: Tensor, index: Tensor, tau) -> Tensor:
        """Per-anchor losses ``[b]`` of anchors whose logits are ``logits [b, B]``, positives at ``index [b]``."""
        n = logits.shape[1] - 1
        shift = logits.amax(1, keepdim=True).detach()           # stable exp: every term scaled by e^-shift
        exp = (logits - shift).exp()
        pos = exp.gather(1, index[:, None]).squeeze(1)
        neg_sum = exp.sum(1) - pos
        floor = n * torch.exp(-1.0 / torch.as_tensor(tau, dtype=logits.dtype) - shift.squeeze(1))
        ng = ((neg_sum - n * self.tau_plus * pos) / (1 - self.tau_plus)).maximum(floor)
        return torch.log(pos + ng) - (logits.gather(1, index[:, None]).squeeze(1) - shift.squeeze(1))

    def compute(self, v, t, video_feat, text_feat, tau, rows):
        logits_v, logits_t = cross_logits(v, t, rows, tau)
        index = row_indices(rows, v.device)
        return symmetric_parts(self._side(logits_v, index, tau), self._side(logits_t, index, tau), len(v), rows)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, tau_plus={self.tau_plus}"


__all__ = ["InfoNCELoss", "NTXentLoss", "MaxMarginLoss", "MILNCELoss", "DebiasedContrastiveLoss"]
