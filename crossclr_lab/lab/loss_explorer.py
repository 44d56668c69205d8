"""Companion of notebook 02 (the loss explorer): every tensor of one CrossCLR step on one batch, as pictures
and as a widget.

:func:`explore` runs the real :class:`~crossclr_lab.losses.CrossCLRLoss`' :meth:`parts` and adds
what a learner wants to see next to it: each negative's share of the gradient and the loss the public
code's masking bug would give. :func:`draw_explorer` plots one side of it (video or text anchors, captions on
the axes); :func:`explorer_widget` puts its controls in a side column beside the figure; the ``*_table`` and
``*_verdict`` functions turn a result into the numbers and sentences notebook 02 shows.
"""

from __future__ import annotations

import html
from dataclasses import fields

import numpy as np
import torch
from matplotlib.collections import PolyCollection
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
    - ``negative_share_video [B, B]`` (and ``_text``): the share of negative k (inter and intra entries of sample
      k added) among the *negatives'* soft-max mass of anchor i (the batch negatives and the queue sum to 1 per
      row), ``queue_negative_share_video [B]`` the queue's part of it, ``positive_share_video [B]`` the positive's
      share of the whole soft-max;
    - ``cosine_inter [B, B]`` (video rows, text columns), ``cosine_intra_video``/``cosine_intra_text [B, B]``:
      the cosine similarities of the normalised embeddings;
    - ``pruned_share_video``/``pruned_share_text``: the fraction of the batch pruned (influential) per side;
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
        inter = inter.astype(np.float64)
        log_denominator = out[f"per_sample_{side}"] + np.diagonal(inter)
        kept_inter = np.where(out[f"inter_mask_{side}"], inter, -np.inf)     # -inf: left out
        intra = out.get(f"logits_intra_{side}")
        kept_intra = (np.full_like(inter, -np.inf) if intra is None else
                      np.where(out[f"intra_mask_{side}"], intra.astype(np.float64), -np.inf))
        out[f"share_inter_{side}"] = np.exp(kept_inter - log_denominator[:, None])
        out[f"share_intra_{side}"] = np.exp(kept_intra - log_denominator[:, None])
        # the negatives' own soft-max, in log space (their total can be ~1e-30 of a solved anchor's soft-max)
        log_batch = np.logaddexp.reduce(np.concatenate([kept_inter, kept_intra], 1), axis=1)
        log_queue = np.full_like(log_batch, -np.inf)
        if qsize:
            rest = 1.0 - np.exp(np.diagonal(inter) - log_denominator) - np.exp(log_batch - log_denominator)
            with np.errstate(divide="ignore"):
                log_queue = log_denominator + np.log(np.clip(rest, 0.0, 1.0))
        log_negatives = np.logaddexp(log_batch, log_queue)
        finite = np.isfinite(log_negatives)[:, None]                  # an anchor may have no negative left
        with np.errstate(invalid="ignore"):
            out[f"negative_share_{side}"] = np.where(
                finite, np.exp(kept_inter - log_negatives[:, None]) + np.exp(kept_intra - log_negatives[:, None]), 0.0)
            out[f"queue_negative_share_{side}"] = np.where(finite[:, 0], np.exp(log_queue - log_negatives), 0.0)
        out[f"positive_share_{side}"] = np.exp(-out[f"per_sample_{side}"].astype(np.float64))
        out[f"pruned_share_{side}"] = float(out[f"influential_{side}"].mean())
    out["loss_zero_mask_bug"] = _zero_mask_bug_loss(out, intra_weight > 0)
    vn, tn = (torch.nn.functional.normalize(x.detach().float(), dim=1) for x in (video_emb, text_emb))
    out["cosine_inter"] = (vn @ tn.T).numpy()
    out["cosine_intra_video"], out["cosine_intra_text"] = (vn @ vn.T).numpy(), (tn @ tn.T).numpy()
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


def log_grid(value: float, low: float, high: float, per_decade: int = 10) -> list[float]:
    """``value · 10^(k / per_decade)`` for every integer k that stays in [``low``, ``high``]: a log-spaced slider
    grid that holds ``value`` itself exactly (k = 0), so stepping right then left returns to it."""
    if not low <= value <= high:
        raise ValueError(f"value {value} must lie in [{low}, {high}]")
    ks = range(int(np.floor(per_decade * np.log10(low / value))) - 1,
               int(np.ceil(per_decade * np.log10(high / value))) + 2)
    return [float(value * 10 ** (k / per_decade)) if k else float(value) for k in ks
            if low * (1 - 1e-9) <= value * 10 ** (k / per_decade) <= high * (1 + 1e-9)]


def _bar_verts(widths: np.ndarray, height: float = 0.8) -> list[np.ndarray]:
    """Rectangles ``[4, 2]`` of horizontal bars of ``widths`` on rows 0, 1, …"""
    w = np.asarray(widths, dtype=float)
    rows = np.arange(len(w), dtype=float)
    lo, hi, zero = rows - height / 2, rows + height / 2, np.zeros_like(w)
    return list(np.stack([np.stack([zero, lo], 1), np.stack([w, lo], 1), np.stack([w, hi], 1),
                          np.stack([zero, hi], 1)], 1))


def explorer_header(result: dict, side: str) -> str:
    """The line over an explorer figure: side, settings, batch loss and the pruned count of both sides."""
    b = len(result["per_sample_video"])
    pruned = ", ".join(f"{int(result[f'influential_{s}'].sum())}/{b} {s}s" for s in ("video", "text"))
    return (f"{side.capitalize()} anchors · {setting_text(result['settings'])} · loss {result['loss']:.3f} · "
            f"pruned {pruned}")


def _nice_limit(x: float) -> float:
    """The smallest of 1, 2, 2.5, 5 × 10^n that is ≥ ``x`` (an axis end with room for ``x``)."""
    if not np.isfinite(x) or x <= 0:
        return 1.0
    power = 10.0 ** np.floor(np.log10(x))
    return float(next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= x * (1 - 1e-12)))


class ExplorerFigure:
    """One side (``"video"`` or ``"text"`` anchors) of one CrossCLR step on a batch of ``b`` samples, drawn once and
    then updated in place by :meth:`update` (a new :func:`explore` result).

    Top: the cosine similarities of the inter and intra blocks (grey: left out of the denominator; the logit is
    s/τ) and each negative's share of the negatives' soft-max mass (a last column ``Q`` for the queue's total with
    ``queue_column``). Bottom: Ĉ = C / max C with the γ line (red: influential, pruned), each anchor's share of the
    side's loss weight and the per-anchor losses. Colour scales are fixed, so only data changes per update.
    ``live=True``: the changing artists are animated and :meth:`png` blits them (a widget); ``live=False``: a plain
    figure for static output.
    """

    def __init__(self, b: int, side: str = "video", labels: list[str] | None = None, queue_column: bool = False,
                 live: bool = True, figsize=(12.5, 6.6)):
        from matplotlib.colors import PowerNorm

        from crossclr_lab.lab.live_figure import LiveFigure

        if side not in ("video", "text"):
            raise ValueError(f"side must be 'video' or 'text', got {side!r}")
        names = [str(i) for i in range(b)] if labels is None else [short_label(c) for c in labels]
        if len(names) != b:
            raise ValueError(f"labels must name the {b} samples of the batch, got {len(names)}")
        self.b, self.side, self.queue_column = b, side, queue_column
        other = "text" if side == "video" else "video"
        fig = Figure(figsize=figsize, layout="constrained")
        axes = fig.subplots(2, 3, sharey=True)
        ticks = np.arange(b)
        grey = "#bdbdbd"
        panels = [(f"inter: cosine s({side[0]}ᵢ, {other[0]}ₖ)  (logit = s/τ)", f"{other} k", b),
                  (f"intra: cosine s({side[0]}ᵢ, {side[0]}ₖ)  (δ weighted by λ)", f"{side} k", b),
                  ("each negative's share of the negatives' push",
                   "negative k (both modalities)" + ("; Q: queue entries together" if queue_column else ""),
                   b + queue_column)]
        self.images = []
        for ax, (title, xlabel, width) in zip(axes[0], panels):
            share = width != b or title.startswith("each")
            image = ax.imshow(np.zeros((b, width)), cmap="magma" if share else "RdBu_r", aspect="auto",
                              interpolation="nearest", animated=live,
                              **({"norm": PowerNorm(0.5, vmin=0, vmax=1)} if share else {"vmin": -1, "vmax": 1}))
            ax.set_facecolor(grey)
            ax.set_title(title, fontsize=11)
            names_k = [str(k) if b <= 12 or k % 2 == 0 else "" for k in ticks]      # every other one when crowded
            ax.set_xticks(np.arange(width), names_k + (["Q"] if width > b else []), fontsize=9)
            ax.set_xlabel(xlabel, fontsize=10)
            bar = fig.colorbar(image, ax=ax, shrink=0.9, pad=0.01)
            bar.ax.tick_params(labelsize=9)
            if share:
                bar.set_ticks([0, 0.05, 0.2, 0.5, 1.0])
            self.images.append(image)
        if queue_column:
            axes[0, 2].axvline(b - 0.5, color="white", lw=2)
        self.bars = []                        # one PolyCollection per panel: one artist to redraw, not b bars
        for ax, color in zip(axes[1], ("C0", "C2", "C1")):
            bars = PolyCollection(_bar_verts(np.zeros(b)), facecolors=color, animated=live)
            ax.add_collection(bars)
            self.bars.append(bars)
        self.gamma_line = axes[1, 0].axvline(0.9, color="black", ls="--", lw=1.2, animated=live)
        axes[1, 0].set_xlim(0, 1.02)
        axes[1, 1].axvline(100 / b, color="black", ls=":", lw=1)
        for ax, xlabel in zip(axes[1], ("Ĉ = C / max C   (red: pruned, dashed: γ)",
                                        "% of the side's Σ w   (dotted: uniform)", "loss Lᵢ of the anchor")):
            ax.set_xlabel(xlabel, fontsize=10)
            ax.tick_params(axis="x", labelsize=9)
        for row in axes:
            row[0].set_yticks(ticks, [f"{name} {i}" for i, name in enumerate(names)], fontsize=10)
            row[0].set_ylabel(f"{side} anchor i", fontsize=10)
            row[0].set_ylim(b - 0.5, -0.5)
        # what changes in words: drawn in the static figure; a live one leaves it to the widget's header (text is
        # the slowest thing to draw)
        self.title = None if live else fig.suptitle("x", fontsize=12)
        self.bar_titles = [] if live else [ax.set_title("x", fontsize=11) for ax in axes[1]]
        self.axes, self.figure, self.live = axes, fig, LiveFigure(fig) if live else None

    def update(self, result: dict) -> ExplorerFigure:
        """Show ``result`` (from :func:`explore`, same batch size, this figure's side)."""
        side, b = self.side, self.b
        s = result["settings"]
        if len(result[f"per_sample_{side}"]) != b:
            raise ValueError(f"this figure shows batches of {b}, the result has {len(result[f'per_sample_{side}'])}")
        eye = np.eye(b, dtype=bool)
        inter = result["cosine_inter"] if side == "video" else result["cosine_inter"].T
        keep_inter = result[f"inter_mask_{side}"] | eye
        keep_intra = result[f"intra_mask_{side}"] if s["intra_weight"] > 0 else np.zeros((b, b), bool)
        shares = result[f"negative_share_{side}"]
        if self.queue_column:
            queue = result[f"queue_negative_share_{side}"][:, None]
            shares = np.concatenate([shares, np.ma.masked_where(np.full((b, 1), s["queue_size"] == 0), queue)], 1)
        self.images[0].set_data(np.ma.masked_where(~keep_inter, inter))
        self.images[1].set_data(np.ma.masked_where(~keep_intra, result[f"cosine_intra_{side}"]))
        self.images[2].set_data(shares)
        conn = result[f"connectivity_{side}"]
        pruned = result[f"influential_{side}"]
        weights = result[f"weight_{side}"]
        values = (conn / conn.max() if conn.max() > 0 else conn, 100 * weights / weights.sum(),
                  result[f"per_sample_{side}"])
        for i, (bars, value) in enumerate(zip(self.bars, values)):
            bars.set_verts(_bar_verts(value))
            if i == 0:
                bars.set_facecolor(np.where(pruned, "C3", "C0"))
            else:
                self._fit(self.axes[1, i], float(np.max(value)), 100 / b if i == 1 else 0.0)
        gamma = s["prune_threshold"]
        self.gamma_line.set_xdata([gamma, gamma] if gamma is not None else [np.nan, np.nan])
        if self.title is not None:
            self.title.set_text(explorer_header(result, side))
            n = int(pruned.sum())
            words = (f"pruned: {n} of {b} {side}s ({100 * n / b:.0f} %)" if gamma is not None else "pruning off",
                     "weight share" if s["weight_temperature"] is not None else "weighting off",
                     f"{side} loss {result[f'loss_{side}']:.3f}")
            for text, line in zip(self.bar_titles, words):
                text.set_text(line)
        return self

    def _fit(self, ax, largest: float, floor: float) -> None:
        """Widen or narrow ``ax``'s x range when ``largest`` no longer fits it well (a full redraw, rarely)."""
        need = max(largest, floor) * 1.05
        top = ax.get_xlim()[1]
        if need > top or need < 0.15 * top:
            ax.set_xlim(0, _nice_limit(1.5 * need))
            if self.live is not None:
                self.live.invalidate(ax)

    def artists(self) -> list:
        """The artists :meth:`update` changes."""
        return [*self.images, *self.bars, self.gamma_line]

    def png(self) -> bytes:
        """PNG bytes of the figure as it stands (live figures only): the background plus the changed artists."""
        if self.live is None:
            raise ValueError("png() needs a live figure (ExplorerFigure(..., live=True))")
        return self.live.render(self.artists())


def draw_explorer(result: dict, side: str = "video", labels: list[str] | None = None) -> Figure:
    """A static :class:`ExplorerFigure` of ``result`` for one ``side`` (captions ``labels`` on the rows)."""
    b = len(result[f"per_sample_{side}"]) if side in ("video", "text") else 0
    return ExplorerFigure(b, side, labels, queue_column=result["settings"]["queue_size"] > 0,
                          live=False).update(result).figure


def pruning_changes(before: dict, after: dict, labels: list[str] | None = None) -> list[dict]:
    """The samples whose pruning changed between two :func:`explore` results of the same batch (e.g. one γ step):
    per change ``side``, ``index``, ``label``, ``pruned`` (after), ``connectivity`` (Ĉ), ``weight_share`` (its
    share of the side's loss weight, %), ``push`` (its mean share of the negatives' push over the anchors that
    keep it as a negative, %, in the result where it is a negative) and the side's loss ``before``/``after``."""
    changes = []
    for side in ("video", "text"):
        was, now = before[f"influential_{side}"], after[f"influential_{side}"]
        conn = after[f"connectivity_{side}"]
        for k in np.flatnonzero(was != now):
            kept = before if now[k] else after
            shares = kept[f"negative_share_{side}"][:, k]
            others = np.arange(len(shares)) != k
            weights = after[f"weight_{side}"]
            changes.append({"side": side, "index": int(k), "label": None if labels is None else labels[k],
                            "pruned": bool(now[k]), "connectivity": float(conn[k] / conn.max()),
                            "weight_share": float(100 * weights[k] / weights.sum()),
                            "push": float(100 * shares[others].mean()),
                            "before": float(before[f"loss_{side}"]), "after": float(after[f"loss_{side}"])})
    return changes


def pruning_change_text(before: dict, after: dict, labels: list[str] | None = None) -> str:
    """One sentence per changed sample (:func:`pruning_changes`), or ``""`` when the pruned set did not change."""
    parts = []
    for c in pruning_changes(before, after, labels):
        name = f"{c['side']} {c['index']}" + (f" ({short_label(c['label'], 30)})" if c["label"] else "")
        state = "is now pruned" if c["pruned"] else "is no longer pruned"
        parts.append(f"{name} {state} (Ĉ = {c['connectivity']:.3f}; its weight share {c['weight_share']:.1f} %); "
                     f"as a negative it takes {c['push']:.1f} % of the push on average; the {c['side']} loss goes "
                     f"{c['before']:.3f} → {c['after']:.3f}")
    return "; ".join(parts)


class ExplorerWidget:
    """Controls in a side column beside the figure they change, for one batch; the figure is drawn once per side
    and then updated in place (:class:`ExplorerFigure`), sliders update while dragged (the last position wins).

    ``controls``: ``{"side", "temperature", "intra_weight", "prune_threshold", "weight_temperature",
    "queue_size", "use_intra", "use_pruning", "use_weighting", "intra_weight_on": widget}``; setting a control's
    ``value`` recomputes :func:`explore` and updates the figure. τ and κ step on log grids that hold the paper's
    values. ``result`` is the last :func:`explore` result, ``figure`` the figure shown, ``image`` the
    ``ipywidgets.Image`` showing it, ``note`` the line saying what the last step changed in the pruning, ``box``
    the ``ipywidgets.HBox`` (``display(widget)`` shows it).
    """

    def __init__(self, video_emb: Tensor, text_emb: Tensor, video_feat: Tensor, text_feat: Tensor,
                 queue: tuple[Tensor, ...] | None = None, labels: list[str] | None = None):
        import ipywidgets as widgets

        from crossclr_lab.lab.live_figure import Debouncer

        self._batch, self._queue, self.labels = (video_emb, text_emb, video_feat, text_feat), queue, labels
        max_queue = 0 if queue is None else len(queue[0])
        row = widgets.Layout(width="236px")
        style = {"description_width": "46px"}
        slider = dict(continuous_update=True, style=style, layout=row)

        def log_slider(name, value, low, high, fmt):
            grid = log_grid(value, low, high)
            return widgets.SelectionSlider(options=[(format(v, fmt), v) for v in grid], value=value,
                                           description=name, **slider)

        self.controls = {
            "side": widgets.ToggleButtons(options=[("video anchors", "video"), ("text anchors", "text")],
                                          value="video", style={"button_width": "112px"}, layout=row),
            "temperature": log_slider("τ", PAPER["temperature"], 0.005, 1.0, ".3g"),
            "intra_weight": widgets.FloatSlider(value=PAPER["intra_weight"], min=0.05, max=1.0, step=0.05,
                                                description="λ", readout_format=".2f", **slider),
            "prune_threshold": widgets.FloatSlider(value=PAPER["prune_threshold"], min=0.3, max=1.0, step=0.01,
                                                   description="γ", readout_format=".2f", **slider),
            "weight_temperature": log_slider("κ", PAPER["weight_temperature"], 1e-4, 1.0, ".2g"),
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
        b = len(video_emb)
        self.figures = {side: ExplorerFigure(b, side, labels, queue_column=max_queue > 0) for side in ("video", "text")}
        self.image = widgets.Image(format="png", layout=widgets.Layout(width="100%", height="auto"))
        self.note = widgets.HTML(layout=widgets.Layout(min_height="2.6em"))
        column = widgets.VBox(list(self.controls.values()),
                              layout=widgets.Layout(width="248px", min_width="248px", flex="0 0 auto"))
        column.add_class("crossclr-explorer-controls")
        view = widgets.VBox([self.note, self.image], layout=widgets.Layout(flex="1 1 auto", min_width="0"))
        view.add_class("crossclr-explorer-view")
        self.box = widgets.HBox([column, view], layout=widgets.Layout(align_items="flex-start", width="100%"))
        self.box.add_class("crossclr-explorer")
        self.result, self.figure = None, None
        self._debounced = Debouncer(self.render, on_error=self._show_error)
        for control in self.controls.values():
            control.observe(self._debounced, names="value")
        self.render()
        other = self.figures["text"].update(self.result)     # draw the other side's background now, not on a toggle
        other.png()

    def settings(self) -> dict:
        """The :func:`explore` arguments the controls describe now."""
        c = {name: w.value for name, w in self.controls.items()}
        return {"temperature": c["temperature"], "intra_weight": c["intra_weight"] if c["use_intra"] else 0.0,
                "prune_threshold": c["prune_threshold"] if c["use_pruning"] else None,
                "weight_temperature": c["weight_temperature"] if c["use_weighting"] else None,
                "intra_weight_on": c["intra_weight_on"]}

    def render(self) -> None:
        """Recompute :func:`explore` for the controls' values and update the figure in place."""
        size = self.controls["queue_size"].value
        queue = None if size == 0 or self._queue is None else tuple(x[:size] for x in self._queue)
        before, self.result = self.result, explore(*self._batch, queue=queue, **self.settings())
        live = self.figures[self.controls["side"].value].update(self.result)
        self.figure = live.figure
        self.image.value = live.png()
        changed = "" if before is None else pruning_change_text(before, self.result, self.labels)
        self.note.value = (f"<b>{html.escape(explorer_header(self.result, self.controls['side'].value))}</b>"
                           + (f"<br>this step: {html.escape(changed)}" if changed else ""))

    def _show_error(self, err: BaseException) -> None:
        self.note.value = f"<b style='color:#b00'>{type(err).__name__}: {err}</b>"

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
    """Per side, over anchors: the positive's share of the whole soft-max (how much is left to learn), the largest
    single negative's share *among the negatives* (their soft-max mass taken as 1), and the share each negative
    would get if all were pushed equally (1 / the mean number of kept negatives)."""
    rows = []
    for side in ("video", "text"):
        top = np.maximum(result[f"negative_share_{side}"].max(1), result[f"queue_negative_share_{side}"])
        n_neg = float((result[f"inter_mask_{side}"].sum(1) + result[f"intra_mask_{side}"].sum(1)).mean())
        rows.append([side, f"{result[f'positive_share_{side}'].mean():.2f}", f"{top.mean():.2f}",
                     f"{1 / max(n_neg, 1.0):.3f}", f"{100 * result[f'pruned_share_{side}']:.0f}"])
    return Table(name, ["anchors", "positive's share of the soft-max", "largest share among the negatives",
                        "equal share (1 / negatives)", "pruned (%)"], rows,
                 note=f"Shares among the negatives: each negative's soft-max probability divided by the negatives' "
                      f"total (one minus the positive's). {setting_text(result['settings'])}.")


def sharpness_verdict(table: Table) -> Verdict:
    """Per side: how much of the soft-max the positives already hold, and whether the negatives' push goes to one
    hard negative (largest share above one half), a few (above three times the equal share) or is spread."""
    parts, claims = [], []
    for side, positive, top, equal, pruned in table.rows:
        p, t, e = float(positive), float(top), float(equal)
        claims += [Claim(table.name, side, "positive's share of the soft-max", p),
                   Claim(table.name, side, "largest share among the negatives", t),
                   Claim(table.name, side, "equal share (1 / negatives)", e)]
        how = ("one hard negative takes more than all the others together" if t > 0.5 else
               "a few hard negatives take most of it" if t > 3 * e else "it is spread almost evenly")
        left = ("the positives already hold most of the soft-max, so the push is small whoever gets it"
                if p > 0.9 else "the loss still has work to do")
        parts.append(f"for **{side}** anchors the positive holds **{positive}** of the soft-max on average ({left}); "
                     f"among the negatives the hardest takes **{top}** of the push against an equal share of "
                     f"{equal}: {how}")
    text = "; ".join(parts)
    return Verdict(f"{table.name}_verdict", text[0].upper() + text[1:] + ".", claims)


def temperature_sweep(video_emb: Tensor, text_emb: Tensor, video_feat: Tensor, text_feat: Tensor,
                      temperatures=(0.01, 0.03, 0.1, 0.3, 1.0), **kwargs) -> dict[str, np.ndarray]:
    """Across temperatures: the loss, the ×0-bug loss, the mean positive's share of the video soft-max and the mean
    largest share among each video anchor's negatives."""
    rows = [explore(video_emb, text_emb, video_feat, text_feat, temperature=float(tau), **kwargs)
            for tau in temperatures]
    return {"temperature": np.asarray(temperatures, dtype=float),
            "loss": np.array([r["loss"] for r in rows]),
            "loss_zero_mask_bug": np.array([r["loss_zero_mask_bug"] for r in rows]),
            "positive_share": np.array([r["positive_share_video"].mean() for r in rows]),
            "top_share": np.array([r["negative_share_video"].max(1).mean() for r in rows])}


def sweep_table(sweep: dict[str, np.ndarray], name: str = "temperature_sweep") -> Table:
    """:func:`temperature_sweep` as a table, one row per τ."""
    rows = [[f"{tau:.3g}", f"{loss:.3f}", f"{bug:.3f}", f"{pos:.2f}", f"{top:.2f}"]
            for tau, loss, bug, pos, top in zip(sweep["temperature"], sweep["loss"], sweep["loss_zero_mask_bug"],
                                                sweep["positive_share"], sweep["top_share"])]
    return Table(name, ["τ", "loss", "loss with the ×0 bug", "positive's share (video)",
                        "largest share among the negatives (video)"], rows)


def sweep_verdict(table: Table) -> Verdict:
    """How the push's concentration and the positive's share move from the largest τ to the smallest."""
    col = "largest share among the negatives (video)"
    low, high = table.rows[0], table.rows[-1]
    top_low, top_high = float(low[4]), float(high[4])
    trend = ("concentrates on the hardest negatives" if top_low > top_high else
             "does not concentrate" if top_low == top_high else "spreads out")
    text = (f"As τ falls from {high[0]} to {low[0]}, the largest share among a video anchor's negatives goes from "
            f"**{high[4]}** to **{low[4]}**: at a smaller temperature the push {trend}. The positive's share of the "
            f"soft-max goes from {high[3]} to {low[3]}.")
    relation = "gt" if top_low > top_high else "lt" if top_low < top_high else "ge"
    claims = [Claim(table.name, high[0], col, top_high), Claim(table.name, low[0], col, top_low, relation=relation,
                                                               other=high[0]),
              Claim(table.name, high[0], "positive's share (video)", float(high[3])),
              Claim(table.name, low[0], "positive's share (video)", float(low[3]))]
    return Verdict(f"{table.name}_verdict", text, claims)


def next_pruning_change(result: dict) -> float | None:
    """The γ on the explorer's 0.01 grid just above the lowest Ĉ of a pruned sample: raising γ to it un-prunes that
    sample (``None`` when nothing is pruned)."""
    levels = [float(result[f"connectivity_{s}"][k] / result[f"connectivity_{s}"].max())
              for s in ("video", "text") for k in np.flatnonzero(result[f"influential_{s}"])]
    return None if not levels else float(np.ceil(min(levels) * 100 + 1e-9) / 100)


def gamma_step_table(before: dict, after: dict, labels: list[str] | None = None, name: str = "gamma_step") -> Table:
    """The samples whose pruning changed between two results (one γ step, :func:`pruning_changes`) and what it did."""
    rows = [[f"{c['side']} {c['index']}", short_label(c["label"], 30) if c["label"] else "–",
             "pruned" if c["pruned"] else "no longer pruned", f"{c['connectivity']:.3f}", f"{c['weight_share']:.1f}",
             f"{c['push']:.1f}", f"{c['before']:.3f}", f"{c['after']:.3f}"]
            for c in pruning_changes(before, after, labels)]
    g0, g1 = before["settings"]["prune_threshold"], after["settings"]["prune_threshold"]
    return Table(name, ["sample", "caption", "now", "Ĉ", "weight share (%)", "mean share of the push as a negative (%)",
                        "side's loss before", "side's loss after"], rows,
                 note=f"γ {g0} → {g1}; batch loss {before['loss']:.3f} → {after['loss']:.3f}.")


def gamma_step_verdict(table: Table) -> Verdict:
    """Which samples changed (grouped by side), how much of the push each takes as a negative, and how the side's
    loss moved with them."""
    if not table.rows:
        return Verdict(f"{table.name}_verdict", "No sample changed its pruning at this step, so the loss did not "
                       "change through pruning.", [])
    parts, claims = [], []
    for side in ("video", "text"):
        rows = [r for r in table.rows if r[0].startswith(side)]
        if not rows:
            continue
        for sample, _, _, conn, _, push, lb, la in rows:
            claims += [Claim(table.name, sample, "Ĉ", float(conn)),
                       Claim(table.name, sample, "mean share of the push as a negative (%)", float(push)),
                       Claim(table.name, sample, "side's loss after", float(la),
                             relation="gt" if float(la) > float(lb) else "le", other_column="side's loss before")]
        lb, la = rows[0][6], rows[0][7]
        moved = "rises" if float(la) > float(lb) else "falls" if float(la) < float(lb) else "stays"
        names = "; ".join(f"**{r[0]}** ({r[1]}, Ĉ = {r[3]}, {r[2]}, {r[5]} % of the push where it is a negative)"
                          for r in rows)
        parts.append(f"{names} — the {side} loss {moved} from {lb} to {la}")
    text = ("At this γ step " + "; ".join(parts) + ". A sample back among the negatives adds its δ to every "
            "denominator it enters, so a hard one can move a side's loss by a lot at once.")
    return Verdict(f"{table.name}_verdict", text, claims)


def explorer_model(train, val, seed: int = 0, train_here: bool = False):
    """``(model, record)``: the InfoNCE dual encoder notebook 02 explores — notebook 03's seed-``seed`` model with
    its default settings, loaded from the model cache or the shipped checkpoints (Emoji Motion), else trained once
    and cached; ``train_here=True`` trains it anew without the cache (about 20 s on one thread for Emoji Motion)."""
    from dataclasses import replace

    from crossclr_lab.training.model_cache import default_cache_dir, fit_cached
    from crossclr_lab.training.pretrained import notebook_config

    config = replace(notebook_config(seed=seed, group=train.default_group()), loss="infonce")
    return fit_cached(config, train, val, None if train_here else default_cache_dir())


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
    mean largest share among each anchor's negatives (1 = one negative takes the whole push) beside the positive's
    share of the soft-max."""
    fig = Figure(figsize=(11, 3.8), layout="constrained")
    axes = fig.subplots(1, 2)
    axes[0].plot(sweep["temperature"], sweep["loss"], "-o", label="CrossCLR (left-out entries removed)")
    axes[0].plot(sweep["temperature"], sweep["loss_zero_mask_bug"], "--s", label="same, with the ×0 masking bug")
    axes[0].set(xscale="log", xlabel="temperature τ", ylabel="loss", title="Loss vs temperature")
    axes[0].legend(fontsize=8)
    axes[1].plot(sweep["temperature"], sweep["top_share"], "-o", label="largest share among the negatives")
    axes[1].plot(sweep["temperature"], sweep["positive_share"], "--s", label="positive's share of the soft-max")
    axes[1].set(xscale="log", xlabel="temperature τ", ylabel="mean over video anchors", ylim=(0, 1.02),
                title="How concentrated the push is")
    axes[1].legend(fontsize=8)
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
