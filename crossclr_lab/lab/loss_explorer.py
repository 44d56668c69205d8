"""Companion of notebook 02 (the loss explorer): every tensor of one CrossCLR step on one batch, as pictures
and as a widget.

:func:`explore` runs the real :class:`~crossclr_lab.losses.CrossCLRLoss`' :meth:`parts` and adds
what a learner wants to see next to it: each negative's share of the gradient and the loss the public
code's masking bug would give. :func:`draw_explorer` plots it; :func:`explorer_widget` wraps both in
ipywidgets sliders.
"""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor

from crossclr_lab.losses import CrossCLRLoss, loss_defaults

PAPER = loss_defaults("crossclr")   # the paper's settings, as CrossCLRLoss's signature holds them


def explore(video_emb: Tensor, text_emb: Tensor, video_feat: Tensor, text_feat: Tensor,
            temperature: float = PAPER["temperature"], intra_weight: float = PAPER["intra_weight"],
            prune_threshold: float | None = PAPER["prune_threshold"],
            weight_temperature: float | None = PAPER["weight_temperature"], queue: tuple[Tensor, ...] | None = None,
            intra_weight_on: str = PAPER["intra_weight_on"]) -> dict:
    """One CrossCLR step on a batch ``[B, D]`` (+ input features ``[B, D_in]``), fully dissected.

    ``queue``: optional earlier batches ``(video_emb, text_emb, video_feat, text_feat)`` pushed through
    the loss first, so the queue holds them. Returns the loss's parts (numpy) plus:

    - ``share_inter_video [B, B]``, ``share_intra_video [B, B]`` (and ``_text``): ∂L_i/∂logit_ik, the
      soft-max share each kept negative takes of anchor i's denominator (0 where left out);
    - ``grad_norm_video [B]``, ``grad_norm_text [B]``: ‖∂L/∂embedding‖ of each sample (autograd);
    - ``loss_zero_mask_bug``: the loss if left-out entries were multiplied by 0 instead (each adding
      exp(0) = 1 to its row's denominator), as in the authors' public code.
    """
    qsize = 0 if queue is None else len(queue[0])
    loss_fn = CrossCLRLoss(temperature=temperature, intra_weight=intra_weight, prune_threshold=prune_threshold,
                           weight_temperature=weight_temperature, queue_size=qsize, intra_weight_on=intra_weight_on)
    if queue is not None:
        with torch.no_grad():
            loss_fn(*queue)
    loss_fn.eval()                                              # look, but do not enqueue this batch
    v = video_emb.detach().clone().float().requires_grad_(True)
    t = text_emb.detach().clone().float().requires_grad_(True)
    parts = loss_fn.parts(v, t, video_feat, text_feat)
    parts.loss.backward()
    out = {f.name: getattr(parts, f.name).detach().cpu().numpy() for f in fields(parts)
           if getattr(parts, f.name) is not None}
    out["grad_norm_video"] = v.grad.norm(dim=1).numpy()
    out["grad_norm_text"] = t.grad.norm(dim=1).numpy()
    for side, inter in (("video", out["logits_inter"]), ("text", out["logits_inter"].T)):
        log_denominator = out[f"per_sample_{side}"] + np.diagonal(inter)
        keep_inter = out[f"inter_mask_{side}"]
        out[f"share_inter_{side}"] = np.where(keep_inter, np.exp(inter - log_denominator[:, None]), 0.0)
        intra = out.get(f"logits_intra_{side}")
        out[f"share_intra_{side}"] = (np.zeros_like(inter) if intra is None else
                                      np.where(out[f"intra_mask_{side}"],
                                               np.exp(intra - log_denominator[:, None]), 0.0))
    out["loss_zero_mask_bug"] = _zero_mask_bug_loss(out, intra_weight > 0)
    out["settings"] = {"temperature": temperature, "intra_weight": intra_weight, "prune_threshold": prune_threshold,
                       "weight_temperature": weight_temperature, "queue_size": qsize,
                       "intra_weight_on": intra_weight_on}
    return out


def _zero_mask_bug_loss(out: dict, with_intra: bool) -> float:
    """The loss if each left-out entry added exp(0) = 1 to its anchor's denominator (logits × 0)."""
    b = len(out["per_sample_video"])
    sides = []
    for side, inter in (("video", out["logits_inter"]), ("text", out["logits_inter"].T)):
        log_denominator = out[f"per_sample_{side}"] + np.diagonal(inter)
        left_out = (b - 1) - out[f"inter_mask_{side}"].sum(1)       # pruned inter negatives
        if with_intra:
            left_out = left_out + b - out[f"intra_mask_{side}"].sum(1)   # pruned intra + the anchor itself
        per = np.logaddexp(log_denominator, np.log(np.maximum(left_out, 1e-300))) - np.diagonal(inter)
        per = np.where(left_out > 0, per, out[f"per_sample_{side}"])
        w = out[f"weight_{side}"]
        sides.append(float((w * per).sum() / w.sum()))
    return (sides[0] + sides[1]) / 2


def intra_weight_forms(similarities: np.ndarray, temperature: float, intra_weight: float) -> dict[str, np.ndarray]:
    """What one intra negative adds to the denominator, relative to a neutral (s = 0) inter negative, under
    the paper's form λ·exp(s/τ) and the authors' code's exp(λ·s/τ), for similarities ``s`` in [-1, 1]."""
    s = np.asarray(similarities, dtype=float)
    return {"similarity": s, "paper": intra_weight * np.exp(s / temperature),
            "code": np.exp(intra_weight * s / temperature), "inter": np.exp(s / temperature)}


def draw_explorer(result: dict, figsize=(15, 8.5)):
    """A 2×3 figure: inter and intra logits with the pruning masks, the gradient shares, per-sample weights
    and losses. Returns the matplotlib Figure."""
    b = len(result["per_sample_video"])
    fig = Figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(2, 3)
    eye = np.eye(b, dtype=bool)
    panels = [
        (axes[0, 0], result["logits_inter"], result["inter_mask_video"] | eye,
         "Inter-modality logits s(vᵢ, tₖ)/τ", "text k", "RdBu_r"),
        (axes[0, 1], result.get("logits_intra_video", np.zeros((b, b))), result["intra_mask_video"],
         "Intra-modality logits s(vᵢ, vₖ)/τ (+log λ)", "video k", "RdBu_r"),
        (axes[0, 2], result["share_inter_video"] + result["share_intra_video"], None,
         "Gradient share ∂Lᵢ/∂logitᵢₖ (inter + intra)", "sample k", "magma"),
    ]
    for ax, values, keep, title, xlabel, cmap in panels:
        shown = np.ma.masked_where(~keep, values) if keep is not None else values
        limit = np.abs(values).max() or 1.0
        image = ax.imshow(shown, cmap=cmap, vmin=-limit if cmap == "RdBu_r" else 0, vmax=limit)
        ax.set_facecolor("#d9d9d9")
        ax.set(title=title, xlabel=xlabel, ylabel="video anchor i")
        fig.colorbar(image, ax=ax, shrink=0.8)
    pruned = np.flatnonzero(result["influential_video"])
    for ax in (axes[0, 0], axes[0, 1]):
        for k in pruned:
            ax.axvline(k, color="black", lw=0.6, alpha=0.5)
    x = np.arange(b)
    axes[1, 0].bar(x, result["connectivity_video"], color=np.where(result["influential_video"], "C3", "C0"))
    axes[1, 0].set(title="Video connectivity Cᵢ (red: influential, pruned)", xlabel="sample i",
                   ylabel="mean cosine to the others")
    axes[1, 1].bar(x - 0.2, result["weight_video"], 0.4, label="video anchors")
    axes[1, 1].bar(x + 0.2, result["weight_text"], 0.4, label="text anchors")
    axes[1, 1].axhline(1.0, color="gray", lw=0.8, ls="--")
    axes[1, 1].set(title="Per-sample weights wᵢ (mean 1)", xlabel="sample i", ylabel="weight")
    axes[1, 1].legend(fontsize=8)
    axes[1, 2].bar(x - 0.2, result["per_sample_video"], 0.4, label="video anchors")
    axes[1, 2].bar(x + 0.2, result["per_sample_text"], 0.4, label="text anchors")
    s = result["settings"]
    axes[1, 2].set(title=f"Per-sample loss  (loss {result['loss']:.3f}; ×0 bug {result['loss_zero_mask_bug']:.3f})",
                   xlabel="sample i", ylabel="Lᵢ")
    axes[1, 2].legend(fontsize=8)
    fig.suptitle(f"CrossCLR on one batch: τ={s['temperature']:g}, λ={s['intra_weight']:g}, "
                 f"γ={s['prune_threshold']}, κ={s['weight_temperature']}, queue={s['queue_size']}, "
                 f"form={s['intra_weight_on']}")
    return fig


def explorer_widget(video_emb: Tensor, text_emb: Tensor, video_feat: Tensor, text_feat: Tensor,
                    queue: tuple[Tensor, ...] | None = None):
    """An ``ipywidgets.interactive`` over :func:`explore` + :func:`draw_explorer`.

    Children, in order: τ, λ, γ, κ, queue size, intra on, pruning on, weighting on, λ form; ``ui.result``
    holds the last :func:`explore` result. ``queue`` supplies up to the largest queue size of earlier rows.
    """
    import ipywidgets as widgets
    from IPython.display import display

    max_queue = 0 if queue is None else len(queue[0])

    def update(temperature, intra_weight, prune_threshold, weight_temperature, queue_size, use_intra, use_pruning,
               use_weighting, intra_weight_on):
        q = None if queue_size == 0 or queue is None else tuple(x[:queue_size] for x in queue)
        result = explore(video_emb, text_emb, video_feat, text_feat, temperature,
                         intra_weight if use_intra else 0.0, prune_threshold if use_pruning else None,
                         weight_temperature if use_weighting else None, q, intra_weight_on)
        display(draw_explorer(result))
        return result

    log_slider = dict(continuous_update=False, style={"description_width": "initial"})
    return widgets.interactive(
        update,
        temperature=widgets.FloatLogSlider(value=PAPER["temperature"], base=10, min=-2.3, max=0, step=0.05,
                                           description="τ",
                                           readout_format=".3f", **log_slider),
        intra_weight=widgets.FloatSlider(value=PAPER["intra_weight"], min=0.05, max=1.0, step=0.05, description="λ",
                                         **log_slider),
        prune_threshold=widgets.FloatSlider(value=PAPER["prune_threshold"], min=0.3, max=1.0, step=0.01,
                                            description="γ", **log_slider),
        weight_temperature=widgets.FloatLogSlider(value=PAPER["weight_temperature"], base=10, min=-4, max=0, step=0.1,
                                                  description="κ",
                                                  readout_format=".4f", **log_slider),
        queue_size=widgets.IntSlider(value=0, min=0, max=max_queue, step=max(1, max_queue // 20),
                                     description="queue", **log_slider),
        use_intra=widgets.Checkbox(value=True, description="intra-modality negatives"),
        use_pruning=widgets.Checkbox(value=True, description="pruning"),
        use_weighting=widgets.Checkbox(value=True, description="weighting"),
        intra_weight_on=widgets.Dropdown(options=["similarity", "logits"], value=PAPER["intra_weight_on"],
                                         description="λ form"),
    )


def temperature_sweep(video_emb: Tensor, text_emb: Tensor, video_feat: Tensor, text_feat: Tensor,
                      temperatures=(0.01, 0.03, 0.1, 0.3, 1.0), **kwargs) -> dict[str, np.ndarray]:
    """Loss, the ×0-bug loss and the mean largest gradient share per anchor across temperatures."""
    rows = [explore(video_emb, text_emb, video_feat, text_feat, temperature=float(tau), **kwargs)
            for tau in temperatures]
    return {"temperature": np.asarray(temperatures, dtype=float),
            "loss": np.array([r["loss"] for r in rows]),
            "loss_zero_mask_bug": np.array([r["loss_zero_mask_bug"] for r in rows]),
            "top_share": np.array([np.max(r["share_inter_video"] + r["share_intra_video"], axis=1).mean()
                                   for r in rows])}


def explorer_batch(model, data, batch_size: int = 16, queue_rows: int = 0, seed: int = 0) -> dict:
    """A random batch of ``data`` embedded by ``model``, as :func:`explore` takes it.

    Returns ``video_emb``/``text_emb [B, D]``, ``video_feat``/``text_feat [B, D_in]`` (pooled inputs), ``rows``
    (the batch's item indices) and ``queue``: ``queue_rows`` further items as ``(video_emb, text_emb,
    video_feat, text_feat)`` for the queue slider (``None`` when 0).
    """
    from crossclr_lab.train import embed

    if not 2 <= batch_size <= len(data) - queue_rows:
        raise ValueError(f"batch_size must be in [2, {len(data) - queue_rows}] for {len(data)} items and "
                         f"{queue_rows} queue rows, got {batch_size}")
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))
    rows, queue_part = order[:batch_size], order[batch_size:batch_size + queue_rows]
    video_emb, text_emb = embed(model, data.subset(rows))
    queue = None
    if queue_rows:
        queue = (*embed(model, data.subset(queue_part)), data.video_pooled[queue_part], data.text_pooled[queue_part])
    return {"video_emb": video_emb, "text_emb": text_emb, "video_feat": data.video_pooled[rows],
            "text_feat": data.text_pooled[rows], "rows": rows, "queue": queue}


def plot_temperature_sweep(sweep: dict[str, np.ndarray]) -> Figure:
    """Two panels over τ (from :func:`temperature_sweep`): the loss with and without the ×0 masking bug, and the
    mean largest gradient share per anchor (1 = one negative takes the whole push)."""
    fig = Figure(figsize=(11, 3.8), layout="constrained")
    axes = fig.subplots(1, 2)
    axes[0].plot(sweep["temperature"], sweep["loss"], "-o", label="CrossCLR (left-out entries removed)")
    axes[0].plot(sweep["temperature"], sweep["loss_zero_mask_bug"], "--s", label="same, with the ×0 masking bug")
    axes[0].set(xscale="log", xlabel="temperature τ", ylabel="loss", title="Loss vs temperature")
    axes[0].legend(fontsize=8)
    axes[1].plot(sweep["temperature"], sweep["top_share"], "-o")
    axes[1].set(xscale="log", xlabel="temperature τ", ylabel="mean largest share", ylim=(0, 1.02),
                title="How concentrated the push is")
    return fig


def plot_intra_weight_forms(temperature: float = PAPER["temperature"], intra_weight: float = PAPER["intra_weight"]
                            ) -> Figure:
    """One negative's term in the denominator against its cosine similarity: an inter negative, and an intra
    negative under the paper's λ·exp(s/τ) and the authors' code's exp(λ·s/τ) (log scale)."""
    forms = intra_weight_forms(np.linspace(-1, 1, 201), temperature=temperature, intra_weight=intra_weight)
    fig = Figure(figsize=(7, 3.8), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(forms["similarity"], forms["inter"], label="inter negative: exp(s/τ)")
    ax.plot(forms["similarity"], forms["paper"], label="intra, paper: λ·exp(s/τ)")
    ax.plot(forms["similarity"], forms["code"], label="intra, code: exp(λ·s/τ)")
    ax.set(yscale="log", xlabel="cosine similarity s", ylabel="term in the denominator",
           title=f"One negative's contribution (τ = {temperature:g}, λ = {intra_weight:g})")
    ax.legend(fontsize=8)
    return fig
