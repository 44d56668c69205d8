"""Companion of notebook 02 (the loss explorer): every tensor of one CrossCLR step on one batch, as pictures
and as a widget.

:func:`explore` runs the real :class:`~crossclr_lab.losses.CrossCLRLoss`' :meth:`parts` and adds
what a learner wants to see next to it: each negative's share of the gradient and the loss the public
code's masking bug would give. :func:`draw_explorer` plots one side of it (video or text anchors, captions on
the axes); :func:`explorer_widget` puts its controls in a side column beside the figure; the ``*_table`` and
``*_verdict`` functions turn a result into the numbers and sentences notebook 02 shows.
"""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor

from crossclr_lab.checks import check_int
from crossclr_lab.lab.findings import Claim, Table, Verdict
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


def short_label(caption: str, width: int = 22) -> str:
    """A caption's name part (before its " — " keywords), cut to ``width`` characters for an axis."""
    name = caption.split(" — ")[0]
    return name if len(name) <= width else name[: width - 1] + "…"


def setting_text(settings: dict) -> str:
    """The loss settings as a learner reads them: ``τ = 0.035, λ = 0.80, γ = 0.90, κ = 0.0035, queue 0``."""
    def value(x, fmt):
        return "off" if x is None else format(x, fmt)

    lam = "off" if settings["intra_weight"] == 0 else f"{settings['intra_weight']:.2f}"
    form = "" if settings["intra_weight_on"] == "similarity" else " on the logit"
    return (f"τ = {settings['temperature']:.2g}, λ = {lam}{form}, γ = {value(settings['prune_threshold'], '.2f')}, "
            f"κ = {value(settings['weight_temperature'], '.2g')}, queue {settings['queue_size']}")


def queue_share(result: dict, side: str) -> np.ndarray:
    """``[B]``: the share of anchor i's soft-max denominator taken by the queue entries (0 without a queue): one
    minus the positive's share and every batch negative's share."""
    positive = np.exp(-result[f"per_sample_{side}"])
    rest = 1.0 - positive - result[f"share_inter_{side}"].sum(1) - result[f"share_intra_{side}"].sum(1)
    return np.clip(rest, 0.0, 1.0) if result["settings"]["queue_size"] else np.zeros_like(positive)


def draw_explorer(result: dict, side: str = "video", labels: list[str] | None = None, figsize=(8.8, 5.6)) -> Figure:
    """One side of one CrossCLR step: a 2×3 figure whose rows are the batch's anchors (``side``: ``"video"`` or
    ``"text"``), labelled by ``labels`` (captions; indices when ``None``).

    Top: inter-modality logits, intra-modality logits (grey: left out) and each negative's gradient share, with a
    last column for the queue's total share when the queue is on. Bottom: Ĉ = C / max C with the γ line (red:
    influential, pruned), each anchor's share of the side's loss weight, and the per-anchor losses.
    """
    if side not in ("video", "text"):
        raise ValueError(f"side must be 'video' or 'text', got {side!r}")
    other = "text" if side == "video" else "video"
    b = len(result[f"per_sample_{side}"])
    names = [str(i) for i in range(b)] if labels is None else [short_label(c) for c in labels]
    if len(names) != b:
        raise ValueError(f"labels must name the {b} samples of the batch, got {len(names)}")
    eye = np.eye(b, dtype=bool)
    s = result["settings"]
    has_queue = s["queue_size"] > 0
    intra = result.get(f"logits_intra_{side}")
    shares = result[f"share_inter_{side}"] + result[f"share_intra_{side}"]
    if has_queue:
        shares = np.concatenate([shares, queue_share(result, side)[:, None]], axis=1)
    fig = Figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(2, 3, sharey=True)
    ticks = np.arange(b)
    panels = [
        (result["logits_inter"] if side == "video" else result["logits_inter"].T,
         result[f"inter_mask_{side}"] | eye, f"inter logits s({side[0]}ᵢ, {other[0]}ₖ)/τ", f"{other} k", "RdBu_r"),
        (np.zeros((b, b)) if intra is None else intra, result[f"intra_mask_{side}"],
         f"intra logits s({side[0]}ᵢ, {side[0]}ₖ)/τ + log λ" + (" (off)" if intra is None else ""), f"{side} k",
         "RdBu_r"),
        (shares, None, "gradient share of each negative", "negative k (both modalities)", "magma"),
    ]
    for ax, (values, keep, title, xlabel, cmap) in zip(axes[0], panels):
        shown = values if keep is None else np.ma.masked_where(~keep, values)
        limit = float(np.abs(values).max()) or 1.0
        image = ax.imshow(shown, cmap=cmap, vmin=-limit if cmap == "RdBu_r" else 0, vmax=limit, aspect="auto",
                          interpolation="nearest")
        ax.set_facecolor("#bdbdbd")
        ax.set_title(title, fontsize=8)
        ax.set_xticks(ticks, [str(k) for k in ticks], fontsize=5)
        ax.set_xlabel(xlabel, fontsize=7)
        fig.colorbar(image, ax=ax, shrink=0.9, pad=0.01).ax.tick_params(labelsize=6)
    if has_queue:
        axes[0, 2].set_xticks(list(ticks) + [b], [str(k) for k in ticks] + ["Q"], fontsize=5)
        axes[0, 2].axvline(b - 0.5, color="white", lw=2)
        axes[0, 2].set_xlabel(f"negative k; Q: the {s['queue_size']} queue entries together", fontsize=7)
    conn = result[f"connectivity_{side}"]
    scaled = conn / conn.max() if conn.max() > 0 else conn
    axes[1, 0].barh(ticks, scaled, color=np.where(result[f"influential_{side}"], "C3", "C0"))
    if s["prune_threshold"] is not None:
        axes[1, 0].axvline(s["prune_threshold"], color="black", ls="--", lw=1)
    gamma = "no pruning" if s["prune_threshold"] is None else "red: pruned, dashed: γ"
    axes[1, 0].set_title(f"{side} connectivity Ĉ ({gamma})", fontsize=8)
    weights = result[f"weight_{side}"]
    axes[1, 1].barh(ticks, 100 * weights / weights.sum(), color="C2")
    axes[1, 1].axvline(100 / b, color="black", ls="--", lw=1)
    axes[1, 1].set_title("weight share (dashed: uniform)", fontsize=8)
    axes[1, 2].barh(ticks, result[f"per_sample_{side}"], color="C1")
    axes[1, 2].set_title(f"loss of each {side} anchor", fontsize=8)
    for ax, xlabel in zip(axes[1], ("Ĉ = C / max C", "% of Σ w", "Lᵢ")):
        ax.set_xlabel(xlabel, fontsize=7)
        ax.tick_params(axis="x", labelsize=6)
    for row in axes:
        row[0].set_yticks(ticks, [f"{name} {i}" for i, name in enumerate(names)], fontsize=6)
        row[0].set_ylabel(f"{side} anchor i", fontsize=7)
        row[0].set_ylim(b - 0.5, -0.5)
    fig.suptitle(f"{side.capitalize()} anchors · {setting_text(s)} · loss {result['loss']:.3f}", fontsize=9)
    return fig


class ExplorerWidget:
    """Controls in a side column beside the figure they change (:func:`draw_explorer`), for one batch.

    ``controls``: ``{"side", "temperature", "intra_weight", "prune_threshold", "weight_temperature",
    "queue_size", "use_intra", "use_pruning", "use_weighting", "intra_weight_on": widget}``; setting a control's
    ``value`` recomputes :func:`explore` and redraws. ``result`` is the last :func:`explore` result, ``figure``
    the last figure, ``box`` the ``ipywidgets.HBox`` (``display(widget)`` shows it).
    """

    def __init__(self, video_emb: Tensor, text_emb: Tensor, video_feat: Tensor, text_feat: Tensor,
                 queue: tuple[Tensor, ...] | None = None, labels: list[str] | None = None):
        import ipywidgets as widgets

        self._batch, self._queue, self.labels = (video_emb, text_emb, video_feat, text_feat), queue, labels
        max_queue = 0 if queue is None else len(queue[0])
        row = widgets.Layout(width="236px")
        style = {"description_width": "46px"}
        slider = dict(continuous_update=False, style=style, layout=row)
        self.controls = {
            "side": widgets.ToggleButtons(options=[("video anchors", "video"), ("text anchors", "text")],
                                          value="video", style={"button_width": "112px"}, layout=row),
            "temperature": widgets.FloatLogSlider(value=PAPER["temperature"], base=10, min=-2.3, max=0, step=0.05,
                                                  description="τ", readout_format=".3f", **slider),
            "intra_weight": widgets.FloatSlider(value=PAPER["intra_weight"], min=0.05, max=1.0, step=0.05,
                                                description="λ", readout_format=".2f", **slider),
            "prune_threshold": widgets.FloatSlider(value=PAPER["prune_threshold"], min=0.3, max=1.0, step=0.01,
                                                   description="γ", readout_format=".2f", **slider),
            "weight_temperature": widgets.FloatLogSlider(value=PAPER["weight_temperature"], base=10, min=-4, max=0,
                                                         step=0.1, description="κ", readout_format=".4f", **slider),
            "queue_size": widgets.IntSlider(value=0, min=0, max=max_queue, step=max(1, max_queue // 16),
                                            description="queue", **slider),
            "use_intra": widgets.Checkbox(value=True, description="intra-modality negatives", indent=False,
                                          layout=row),
            "use_pruning": widgets.Checkbox(value=True, description="pruning (γ)", indent=False, layout=row),
            "use_weighting": widgets.Checkbox(value=True, description="weighting (κ)", indent=False, layout=row),
            "intra_weight_on": widgets.Dropdown(options=[("λ·δ (paper)", "similarity"), ("λ·logit (code)", "logits")],
                                                value=PAPER["intra_weight_on"], description="form", style=style,
                                                layout=row),
        }
        self.output = widgets.Output(layout=widgets.Layout(flex="1 1 auto", min_width="0"))
        column = widgets.VBox(list(self.controls.values()),
                              layout=widgets.Layout(width="248px", min_width="248px", flex="0 0 auto"))
        column.add_class("crossclr-explorer-controls")
        self.box = widgets.HBox([column, self.output], layout=widgets.Layout(align_items="flex-start", width="100%"))
        self.box.add_class("crossclr-explorer")
        self.result, self.figure = None, None
        for control in self.controls.values():
            control.observe(self._update, names="value")
        self._update()

    def settings(self) -> dict:
        """The :func:`explore` arguments the controls describe now."""
        c = {name: w.value for name, w in self.controls.items()}
        return {"temperature": c["temperature"], "intra_weight": c["intra_weight"] if c["use_intra"] else 0.0,
                "prune_threshold": c["prune_threshold"] if c["use_pruning"] else None,
                "weight_temperature": c["weight_temperature"] if c["use_weighting"] else None,
                "intra_weight_on": c["intra_weight_on"]}

    def _update(self, change=None) -> None:
        from IPython.display import clear_output, display

        size = self.controls["queue_size"].value
        queue = None if size == 0 or self._queue is None else tuple(x[:size] for x in self._queue)
        self.result = explore(*self._batch, queue=queue, **self.settings())
        self.figure = draw_explorer(self.result, self.controls["side"].value, self.labels)
        with self.output:
            clear_output(wait=True)
            display(self.figure)

    def _repr_mimebundle_(self, **kwargs):
        return self.box._repr_mimebundle_(**kwargs)


def explorer_widget(video_emb: Tensor, text_emb: Tensor, video_feat: Tensor, text_feat: Tensor,
                    queue: tuple[Tensor, ...] | None = None, labels: list[str] | None = None) -> ExplorerWidget:
    """:class:`ExplorerWidget` over one batch ``[B, D]`` (+ input features); ``queue`` supplies up to the largest
    queue size of earlier rows, ``labels`` the batch's captions for the axes."""
    return ExplorerWidget(video_emb, text_emb, video_feat, text_feat, queue, labels)


# -- tables and computed verdicts ----------------------------------------------------------------------------------
def weight_table(result: dict, name: str = "weights") -> Table:
    """Per side: 1/B, the range of the batch-normalised connectivity ``c_i = C_i / Σ_j C_j``, and how the weights
    ``w_i = exp(c_i / κ)`` split the side's loss (largest share; fewest anchors holding half of it)."""
    rows = []
    for side in ("video", "text"):
        conn = result[f"connectivity_{side}"].astype(float)
        b = len(conn)
        c = conn / conn.sum() if conn.sum() > 0 else np.full(b, np.nan)
        share = np.sort(result[f"weight_{side}"] / result[f"weight_{side}"].sum())[::-1]
        half = int(np.searchsorted(np.cumsum(share), 0.5) + 1)
        rows.append([side, f"{1 / b:.3f}", f"{np.nanmin(c):.3f}" if np.isfinite(c).any() else "–",
                     f"{np.nanmax(c):.3f}" if np.isfinite(c).any() else "–", f"{100 * share[0]:.1f}",
                     f"{100 / b:.1f}", str(half)])
    return Table(name, ["anchors", "1/B", "smallest c_i", "largest c_i", "largest weight share (%)",
                        "uniform share (%)", "anchors holding half the weight"], rows,
                 note=f"c_i = C_i / Σ_j C_j sums to 1 over the batch, so its mean is 1/B; "
                      f"{setting_text(result['settings'])}.")


def weight_verdict(table: Table, kappa: float | None) -> Verdict:
    """Whether c_i is close to 1/B on this batch, and how unequal the weights are."""
    claims, parts = [], []
    for row in table.rows:
        side, inv_b, low, high, top, uniform, half = row
        if low == "–":
            parts.append(f"the {side} connectivities sum to ≤ 0, so the {side} weights are uniform")
            continue
        spread = max(float(high) - float(inv_b), float(inv_b) - float(low))
        far = spread > float(inv_b)
        claims += [Claim(table.name, side, "1/B", float(inv_b)), Claim(table.name, side, "smallest c_i", float(low)),
                   Claim(table.name, side, "largest c_i", float(high)),
                   Claim(table.name, side, "largest weight share (%)", float(top)),
                   Claim(table.name, side, "anchors holding half the weight", float(half))]
        parts.append(f"the **{side}** c_i range from {low} to {high} — "
                     + ("*far from* 1/B" if far else "close to 1/B") + f" = {inv_b}; the largest {side} weight takes "
                     f"**{top} %** of the {side} loss (uniform: {uniform} %) and {half} anchor(s) hold half of it")
    kappa_text = "weighting is off" if kappa is None else f"divided by κ = {kappa:.2g}"
    text = (f"The c_i sum to 1, so they *average* 1/B; their spread is what the weights see ({kappa_text}). On this "
            "batch " + "; ".join(parts) + ".")
    return Verdict(f"{table.name}_verdict", text, claims)


def top_losses(result: dict, captions: list[str], groups: list | None = None, k: int = 5,
               name: str = "top_losses") -> Table:
    """The ``k`` largest per-anchor losses over both sides: the anchor's side and caption, its loss, and (with
    ``groups``) the batch samples of its group — false negatives — with whether pruning left them out."""
    rows = []
    scored = [(float(result[f"per_sample_{side}"][i]), side, i) for side in ("video", "text")
              for i in range(len(captions))]
    for loss, side, i in sorted(scored, reverse=True)[:k]:
        row = [f"{side} {i}", short_label(captions[i], 40), f"{loss:.2f}"]
        if groups is not None:
            mates = [j for j in range(len(captions)) if j != i and groups[j] == groups[i]]
            kept = [j for j in mates if not result[f"influential_{side}"][j]]
            row += [", ".join(f"{short_label(captions[j], 30)} ({j})" for j in mates) or "none",
                    str(len(kept))]
        rows.append(row)
    columns = ["anchor", "caption", "loss Lᵢ"] + (["same group in the batch (false negatives)",
                                                   "of them still negatives (not pruned)"] if groups else [])
    return Table(name, columns, rows)


def top_loss_verdict(table: Table) -> Verdict:
    """How many of the largest losses are text anchors, and how many have unpruned false negatives in the batch."""
    text_rows = [r for r in table.rows if r[0].startswith("text")]
    text = (f"{len(text_rows)} of the {len(table.rows)} largest per-anchor losses belong to **text** anchors, "
            f"{len(table.rows) - len(text_rows)} to video anchors.")
    claims = [Claim(table.name, table.rows[0][0], "loss Lᵢ", float(table.rows[0][2]), relation="max")]
    text += f" The largest, {table.rows[0][2]}, is {table.rows[0][0]} ({table.rows[0][1]})."
    if len(table.columns) > 3:
        missed = [r for r in table.rows if int(r[4]) > 0]
        claims += [Claim(table.name, r[0], table.columns[4], float(r[4]), relation="positive") for r in missed]
        if missed:
            text += (f" {len(missed)} of them have same-group samples in the batch that pruning did *not* remove ("
                     + "; ".join(f"{r[0]}: {r[4]}" for r in missed) + "): real false negatives the loss still pushes "
                     "away — pruning sees only input similarity, and these were not the batch's most connected.")
        else:
            text += " None of them has a same-group sample left among its negatives."
    return Verdict(f"{table.name}_verdict", text, claims)


def sharpness_table(result: dict, name: str = "sharpness") -> Table:
    """Per side: the mean over anchors of the largest single negative's gradient share, and the share every
    negative would get if all were pushed equally (1 / the mean number of kept batch negatives)."""
    rows = []
    for side in ("video", "text"):
        shares = result[f"share_inter_{side}"] + result[f"share_intra_{side}"]
        n_neg = float((result[f"inter_mask_{side}"].sum(1) + result[f"intra_mask_{side}"].sum(1)).mean())
        rows.append([side, f"{shares.max(1).mean():.2f}", f"{1 / max(n_neg, 1.0):.3f}"])
    return Table(name, ["anchors", "mean largest share", "equal share (1 / negatives)"], rows,
                 note=f"{setting_text(result['settings'])}.")


def sharpness_verdict(table: Table) -> Verdict:
    """Whether each side's push is concentrated on one hard negative (mean largest share above one half)."""
    parts, claims = [], []
    for side, top, equal in table.rows:
        claims.append(Claim(table.name, side, "mean largest share", float(top)))
        parts.append(f"for **{side}** anchors the hardest negative takes on average **{top}** of the push "
                     + ("— more than all the other negatives together" if float(top) > 0.5 else
                        "— the push is spread over several negatives") + f" (equal shares would be {equal})")
    text = "; ".join(parts)
    return Verdict(f"{table.name}_verdict", text[0].upper() + text[1:] + ".", claims)


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
    from crossclr_lab.training.trainer import embed

    check_int("queue_rows", queue_rows, minimum=0)
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
