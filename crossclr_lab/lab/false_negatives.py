"""Companion of notebook 01 (false negatives): what CrossCLR's pruning removes, measured against known groups,
and the figures that show it.

The functions here call the loss's own :func:`~crossclr_lab.losses.connectivity` and
:func:`~crossclr_lab.losses.influential`, so what a notebook shows is what trains.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import Tensor

from crossclr_lab.data.paired import group_codes, random_batches
from crossclr_lab.lab.findings import Claim, Table, Verdict
from crossclr_lab.losses import connectivity, influential


def cosine_matrix(feat: Tensor) -> Tensor:
    """Cosine similarity ``[N, N]`` of the rows of ``feat [N, D]``."""
    x = F.normalize(feat.float(), dim=1)
    return x @ x.T


def batch_connectivity(feat: Tensor, queue_feat: Tensor | None = None) -> Tensor:
    """Connectivity ``[B]`` of each row of ``feat [B, D]`` as the loss computes it (cosine, self excluded,
    averaged over the other batch rows and the rows of ``queue_feat [Q, D]``)."""
    x = F.normalize(feat.float(), dim=1)
    if queue_feat is None:
        return connectivity(x)
    q = F.normalize(queue_feat.float(), dim=1)
    return connectivity(x, q, torch.ones(len(q), dtype=torch.bool))


def pruning_curve(feat: Tensor, groups: Sequence, thresholds: Sequence[float] = tuple(np.linspace(0.5, 1.0, 11)),
                  batch_size: int = 64, epochs: int = 1, seed: int = 0) -> dict[str, np.ndarray]:
    """How well connectivity pruning finds false negatives, over shuffled batches, for each γ.

    A *false negative* of anchor i is another batch sample k of the same group (same concept: the loss
    treats it as a negative although its content matches). Pruning removes every influential k
    (``C_k / max C > γ``) from every anchor's negatives. Per γ, summed over batches:

    - ``pruned_fraction``: share of batch samples marked influential;
    - ``precision``: share of removed (anchor, negative) pairs that are false negatives;
    - ``recall``: share of all false-negative pairs that pruning removes;
    - ``base_rate``: share of all (anchor, negative) pairs that are false negatives — the precision of
      pruning at random, the line a useful γ must beat.

    ``feat [N, D]`` are the pooled input features, ``groups`` one label per row. Returns arrays ``[len(thresholds)]``
    (``precision`` is NaN where nothing is pruned).
    """
    if len(groups) != len(feat):
        raise ValueError(f"groups must hold one label per row: {len(groups)} labels for {len(feat)} rows")
    codes = torch.as_tensor(group_codes(groups))
    thresholds = np.asarray(thresholds, dtype=float)
    removed = np.zeros(len(thresholds))
    removed_false = np.zeros(len(thresholds))
    marked = np.zeros(len(thresholds))
    all_pairs = all_false = samples = 0
    for epoch in range(epochs):
        for idx in random_batches(len(feat), batch_size, seed + epoch):
            idx = torch.as_tensor(idx)
            conn = batch_connectivity(feat[idx])
            same = codes[idx][:, None] == codes[idx][None, :]
            same.fill_diagonal_(False)
            false_per_negative = same.sum(0).numpy()          # anchors for which sample k is a false negative
            b = len(idx)
            all_pairs += b * (b - 1)
            all_false += int(same.sum())
            samples += b
            for j, gamma in enumerate(thresholds):
                infl = influential(conn, float(gamma)).numpy()
                marked[j] += infl.sum()
                removed[j] += infl.sum() * (b - 1)
                removed_false[j] += false_per_negative[infl].sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(removed > 0, removed_false / np.maximum(removed, 1), np.nan)
    return {"threshold": thresholds, "pruned_fraction": marked / samples, "precision": precision,
            "recall": removed_false / max(all_false, 1), "base_rate": np.full(len(thresholds), all_false / all_pairs)}


def zipf_subset(data, group: str = "concept", largest: int = 80, exponent: float = 1.0, minimum: int = 2):
    """A subset of ``data`` (:class:`~crossclr_lab.data.PairedFeatures`) whose groups have Zipf-like sizes:
    the k-th group (in order of first appearance, k = 1, 2, ...) keeps ``largest / k**exponent + minimum``
    of its items (at most all of them). Frequent concepts make dense regions, as in real data."""
    codes = group_codes(data.groups[group])
    firsts = sorted(np.unique(codes), key=lambda c: np.flatnonzero(codes == c)[0])
    keep = [np.flatnonzero(codes == c)[:int(largest / (k + 1) ** exponent) + minimum] for k, c in enumerate(firsts)]
    return data.subset(np.sort(np.concatenate(keep)))


def most_connected(feat: Tensor, k: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """Indices and connectivity of the ``k`` most connected rows of ``feat [N, D]`` over the whole set."""
    conn = batch_connectivity(feat)
    order = torch.argsort(conn, descending=True)[:k]
    return order.numpy(), conn[order].numpy()


def connected_gallery(data, feat: Tensor, k: int = 5) -> tuple[list, list[str], list[str]]:
    """The ``k`` most connected clips of ``data`` (connectivity of ``feat [N, D]`` over the whole set) that have a
    picture: ``(images, titles, skipped)``; titles are the full names (the caption before its " — " keywords)
    with C, ``skipped`` the names of more connected clips that have no licensed picture."""
    order, conn = most_connected(feat, k=len(feat))
    images, titles, skipped = [], [], []
    for i, c in zip(order.tolist(), conn.tolist()):
        name = data.captions[i].split(" — ")[0]
        try:
            image = data.thumbnail(i) if data.thumbnail_fn is not None else None
        except ValueError:
            image = None
        if image is None:
            skipped.append(name)
            continue
        images.append(image)
        titles.append(f"{name}\nC = {c:.2f}")
        if len(images) == k:
            break
    return images, titles, skipped


def partner_shares(feat: Tensor, groups: Sequence, gamma: float, batch_size: int = 64, epochs: int = 1,
                   seed: int = 0) -> dict[str, float]:
    """How often a sample has a same-group partner in its (shuffled) batch, for influential samples and for all.

    A sample with a partner is a false negative for at least one anchor of its batch. Returns ``influential``
    (share among the samples influential at γ; NaN when none is), ``all`` (share among every sample: what a
    random pick of samples would give) and ``n_influential`` (how many samples were influential in all).
    """
    if len(groups) != len(feat):
        raise ValueError(f"groups must hold one label per row: {len(groups)} labels for {len(feat)} rows")
    codes = torch.as_tensor(group_codes(groups))
    hit = total = hit_all = total_all = 0
    for epoch in range(epochs):
        for idx in random_batches(len(feat), batch_size, seed + epoch):
            idx = torch.as_tensor(idx)
            infl = influential(batch_connectivity(feat[idx]), gamma)
            same = codes[idx][:, None] == codes[idx][None, :]
            same.fill_diagonal_(False)
            partner = same.any(0)
            hit += int((partner & infl).sum())
            total += int(infl.sum())
            hit_all += int(partner.sum())
            total_all += len(idx)
    return {"influential": hit / total if total else float("nan"), "all": hit_all / total_all,
            "n_influential": total}


# -- tables and computed verdicts ------------------------------------------------------------------------------
def _at(curve: dict, gamma: float) -> int:
    return int(np.argmin(np.abs(curve["threshold"] - gamma)))


def _pct(x: float) -> str:
    return "–" if not np.isfinite(x) else f"{100 * x:.1f}"


def _num(cell: str) -> float:
    return float("nan") if cell == "–" else float(cell)


def _row(table: Table, label: str) -> dict[str, str]:
    return dict(zip(table.columns, next(r for r in table.rows if r[0] == label)))


def pruning_table(curves: dict[str, dict], gamma: float, name: str = "pruning") -> Table:
    """One row per :func:`pruning_curve` in ``curves`` at the threshold closest to ``gamma``: samples pruned,
    precision, base rate, their ratio (the lift), the share of pruned negatives that were true negatives, and
    recall (percentages)."""
    rows = []
    for label, c in curves.items():
        j = _at(c, gamma)
        precision, base = c["precision"][j], c["base_rate"][j]
        lift = precision / base if base > 0 and np.isfinite(precision) else float("nan")
        rows.append([label, f"{c['threshold'][j]:.2f}", _pct(c["pruned_fraction"][j]), _pct(precision), _pct(base),
                     "–" if not np.isfinite(lift) else f"{lift:.1f}", _pct(1 - precision), _pct(c["recall"][j])])
    return Table(name, ["features / group", "γ", "samples pruned (%)", "precision (%)", "base rate (%)",
                        "lift (×)", "true negatives among pruned (%)", "recall (%)"], rows,
                 note="precision: share of the removed (anchor, negative) pairs that are false negatives; base rate: "
                      "share of *all* negatives that are — the precision of pruning at random; lift = precision / "
                      "base rate; recall: share of all false negatives that pruning removes.")


def pruning_verdict(table: Table, rows: Sequence[str] | None = None) -> Verdict:
    """What :func:`pruning_table` says, in words computed from its cells: per row the precision against the base
    rate, and, for two or more rows, where pruning is most precise (highest lift)."""
    rows = list(rows or [r[0] for r in table.rows])
    claims, lines = [], []
    for label in rows:
        cells = _row(table, label)
        if cells["precision (%)"] == "–":
            lines.append(f"- **{label}**: pruning removes nothing at this γ.")
            continue
        claims += [Claim(table.name, label, "precision (%)", _num(cells["precision (%)"])),
                   Claim(table.name, label, "base rate (%)", _num(cells["base rate (%)"])),
                   Claim(table.name, label, "lift (×)", _num(cells["lift (×)"]))]
        lines.append(f"- **{label}**: {cells['precision (%)']} % of the negatives pruning removes are false "
                     f"negatives, against a base rate of {cells['base rate (%)']} % (lift {cells['lift (×)']}×).")
    text = f"At γ = {_row(table, rows[0])['γ']}:\n\n" + "\n".join(lines)
    lifts = {r: _num(_row(table, r)["lift (×)"]) for r in rows}
    lifts = {r: v for r, v in lifts.items() if np.isfinite(v)}
    if len(lifts) >= 2:
        best = max(lifts, key=lifts.get)
        claims.append(Claim(table.name, best, "lift (×)", lifts[best], relation="max", among=list(lifts)))
        text += f"\n\nPruning is most precise on **{best}** (lift {_row(table, best)['lift (×)']}×)."
    random_like = [r for r, v in lifts.items() if v <= 1.0]
    if random_like:
        text += " It is no better than random on " + ", ".join(f"**{r}**" for r in random_like) + "."
    return Verdict(f"{table.name}_verdict", text, claims)


def true_negative_verdict(table: Table, label: str) -> Verdict:
    """One row of :func:`pruning_table` read as a cost: the share of pruned negatives that were true negatives
    (useful contrast that pruning throws away)."""
    cells = _row(table, label)
    share = cells["true negatives among pruned (%)"]
    claims = [Claim(table.name, label, "base rate (%)", _num(cells["base rate (%)"])),
              Claim(table.name, label, "precision (%)", _num(cells["precision (%)"]))]
    if share == "–":
        return Verdict(f"{table.name}_cost", f"On **{label}** pruning removes nothing at γ = {cells['γ']}.", [])
    claims.append(Claim(table.name, label, "true negatives among pruned (%)", _num(share)))
    text = (f"On **{label}**, false negatives are {cells['base rate (%)']} % of all negatives; among the negatives "
            f"pruning removes they are {cells['precision (%)']} %, so **{share} %** of what it removes were *true* "
            "negatives: contrast the loss no longer gets.")
    text += (" Most of what pruning removes is useful contrast." if _num(share) > 50 else
             " Most of what pruning removes are false negatives.")
    return Verdict(f"{table.name}_cost", text, claims)


def partner_table(shares: dict[str, dict], key: str, gamma: float, name: str = "partners") -> Table:
    """``shares = {features: partner_shares(...)}`` as a table: influential vs all samples with a same-``key``
    partner in their batch."""
    rows = [[label, str(s["n_influential"]), _pct(s["influential"]), _pct(s["all"])] for label, s in shares.items()]
    return Table(name, ["features", "influential samples (all batches)",
                        f"influential with a same-{key} partner (%)", f"any sample with a same-{key} partner (%)"],
                 rows, note=f"γ = {gamma:g}; a sample with a partner in its batch is a false negative for that "
                            "partner's anchor.")


def partner_verdict(table: Table) -> Verdict:
    """Whether influential samples have a same-group partner in their batch more often than samples in general."""
    infl_col, all_col = table.columns[2], table.columns[3]
    claims, parts = [], []
    for row in table.rows:
        label, infl, every = row[0], _num(row[2]), _num(row[3])
        if not np.isfinite(infl):
            parts.append(f"no **{label}** sample was influential")
            continue
        claims += [Claim(table.name, label, infl_col, infl), Claim(table.name, label, all_col, every)]
        parts.append(f"**{row[2]} %** of the influential **{label}** samples have a partner of their group in their "
                     f"batch, against {row[3]} % of all samples: pruning finds them "
                     + ("*more* often than a random pick" if infl > every else "*no more* often than a random pick"))
    return Verdict(f"{table.name}_verdict", "; ".join(parts) + ".", claims)


def similarity_table(panels: dict[str, tuple[Tensor, Sequence]], name: str = "similarity") -> Table:
    """Per panel (``{title: (feat [N, D], groups [N])}``): the mean cosine between two samples of the same group
    and between samples of different groups — how bright a similarity matrix's diagonal blocks and the rest are."""
    rows = []
    for title, (feat, groups) in panels.items():
        sims = cosine_matrix(feat).numpy()
        codes = group_codes(groups)
        same = codes[:, None] == codes[None, :]
        np.fill_diagonal(same, False)
        other = codes[:, None] != codes[None, :]
        rows.append([title, f"{sims[same].mean():.2f}" if same.any() else "–", f"{sims[other].mean():.2f}",
                     str(len(set(codes.tolist())))])
    return Table(name, ["features", "mean cosine, same group", "mean cosine, different groups", "groups"], rows)


def similarity_verdict(table: Table) -> Verdict:
    """Where different groups look most alike (high connectivity everywhere) and where groups separate best."""
    crowded = max(table.rows, key=lambda r: _num(r[2]))
    claims = [Claim(table.name, crowded[0], "mean cosine, different groups", _num(crowded[2]), relation="max")]
    text = (f"Samples of *different* groups are most alike in **{crowded[0]}** (mean cosine {crowded[2]}): there, "
            "many samples are highly connected whatever their group.")
    gaps = {r[0]: _num(r[1]) - _num(r[2]) for r in table.rows if r[1] != "–"}
    if gaps:
        best = max(gaps, key=gaps.get)
        row = _row(table, best)
        claims += [Claim(table.name, best, "mean cosine, same group", _num(row["mean cosine, same group"])),
                   Claim(table.name, best, "mean cosine, different groups", _num(row["mean cosine, different groups"]))]
        text += (f" Groups stand out most clearly in **{best}**: same group {row['mean cosine, same group']} vs "
                 f"different groups {row['mean cosine, different groups']}.")
    return Verdict(f"{table.name}_verdict", text, claims)


# -- figures ---------------------------------------------------------------------------------------------
def _sorted_sample(groups: Sequence, max_items: int) -> np.ndarray:
    """Rows sorted by group; above ``max_items`` rows an evenly spaced sample of them (each group keeps its share)."""
    order = np.argsort(group_codes(groups), kind="stable")
    if len(order) > max_items:
        order = order[np.linspace(0, len(order) - 1, max_items).round().astype(int)]
    return order


def plot_similarity_matrices(panels: dict[str, tuple[Tensor, Sequence]], max_items: int = 120,
                             panel_size: float = 4.6) -> Figure:
    """Cosine matrices side by side on **one colour scale**, ``panels = {title: (feat [N, D], groups [N])}``, rows
    sorted by group so same-group blocks sit on the diagonal; above ``max_items`` rows, an evenly spaced sample of
    the sorted rows. Group boundaries are marked by ticks outside the axes (no lines over the matrix)."""
    orders = {title: _sorted_sample(groups, max_items) for title, (_, groups) in panels.items()}
    sims = {title: cosine_matrix(feat[torch.as_tensor(orders[title])]).numpy() for title, (feat, _) in panels.items()}
    vmin = min(0.0, min(float(s.min()) for s in sims.values()))
    fig = Figure(figsize=(panel_size * len(panels) + 1.0, panel_size), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    image = None
    for ax, (title, (_, groups)) in zip(axes, panels.items()):
        image = ax.imshow(sims[title], cmap="viridis", vmin=vmin, vmax=1, interpolation="nearest")
        codes = group_codes([groups[i] for i in orders[title]])
        edges = np.flatnonzero(np.diff(codes)) + 0.5
        if len(edges) <= 30:                 # a tick per group boundary; too many would be a comb
            ax.set_xticks(edges, [""] * len(edges))
            ax.set_yticks(edges, [""] * len(edges))
            ax.tick_params(length=4, color="black")
        else:
            ax.set_xticks([])
            ax.set_yticks([])
        n_groups = len(set(codes.tolist()))
        ax.set(title=title, xlabel=f"sample, sorted by group ({len(codes)} shown, {n_groups} groups)",
               ylabel="sample, sorted by group")
    fig.colorbar(image, ax=list(axes), shrink=0.85, label="cosine similarity of input features (one scale)")
    return fig


def plot_connectivity(conn: np.ndarray, gamma: float, title: str = "Connectivity in one batch") -> Figure:
    """Bar chart of a batch's connectivity ``[B]`` (scaled by its max) with the γ line: bars above are pruned."""
    conn = np.asarray(conn, dtype=float)
    scaled = conn / conn.max() if conn.max() > 0 else conn
    order = np.argsort(-scaled)
    pruned = scaled[order] > gamma
    fig = Figure(figsize=(8, 3.2), layout="constrained")
    ax = fig.add_subplot()
    ax.bar(np.flatnonzero(pruned), scaled[order][pruned], color="C3",
           label=f"influential: pruned ({int(pruned.sum())})")
    ax.bar(np.flatnonzero(~pruned), scaled[order][~pruned], color="C0", label=f"kept ({int((~pruned).sum())})")
    ax.axhline(gamma, color="black", ls="--", lw=1, label=f"γ = {gamma:g}")
    ax.set(title=title, xlabel="batch sample (sorted by connectivity)", ylabel="Ĉ = C / max C")
    ax.legend(fontsize=8, loc="lower left")
    return fig


def plot_pruning_curves(curves: dict[str, dict], gamma: float | None = None,
                        title: str = "Does pruning find false negatives?") -> Figure:
    """Three panels over γ, one colour per entry of ``curves`` (name → :func:`pruning_curve`): the share of samples
    pruned; precision (solid) against the base rate (dashed: the precision of pruning at random), in %; recall.
    ``gamma`` marks the threshold the text reads at. Entries with the same pruned share (the same features judged
    against two groupings) are drawn distinguishably: the later one wide, dashed and hollow, its legend naming
    the earlier."""
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter

    fig = Figure(figsize=(13, 3.8), layout="constrained")
    axes = fig.subplots(1, 3)
    first: dict[str, str] = {}      # entry -> the earlier entry with the same pruned share (same input features)
    for j, (name, c) in enumerate(curves.items()):
        style = {"color": f"C{j}", "marker": "o", "ms": 3}
        same = next((other for other in list(curves)[:j] if other not in first and np.array_equal(
            curves[other]["pruned_fraction"], c["pruned_fraction"])), None)
        if same is None:
            axes[0].plot(c["threshold"], 100 * c["pruned_fraction"], label=name, **style)
        else:   # identical series (pruning does not depend on the grouping): drawn under it, wide, dashed, hollow
            first[name] = same
            axes[0].plot(c["threshold"], 100 * c["pruned_fraction"], color=f"C{j}", ls="--", lw=3, alpha=0.6,
                         marker="s", ms=7, mfc="none", zorder=1, label=f"{name} (= {same}: same features)")
        axes[1].plot(c["threshold"], 100 * c["precision"], **style)
        axes[1].plot(c["threshold"], 100 * c["base_rate"], color=f"C{j}", ls="--", lw=1.2)
        axes[2].plot(c["threshold"], 100 * c["recall"], **style)
    axes[0].set(title="Samples marked influential", ylabel="% of batch samples")
    axes[1].set(title="Precision (solid) vs base rate (dashed)", ylabel="% false negatives among negatives",
                yscale="log")
    plain = FuncFormatter(lambda y, _: f"{y:g}")
    axes[1].yaxis.set_major_formatter(plain)
    axes[1].yaxis.set_minor_formatter(plain)
    axes[1].tick_params(axis="y", which="minor", labelsize=7)
    axes[2].set(title="Recall: false negatives removed", ylabel="% of all false negatives", ylim=(0, 102))
    for ax in axes:
        ax.set_xlabel("pruning threshold γ")
        ax.grid(alpha=0.3, which="both")
        if gamma is not None:
            ax.axvline(gamma, color="grey", lw=0.8, ls=":")
    axes[0].legend(fontsize=8)
    axes[1].legend(handles=[Line2D([], [], color="black", marker="o", ms=3, label="precision of pruning"),
                            Line2D([], [], color="black", ls="--", label="base rate (random pruning)")],
                   fontsize=8, loc="best")
    fig.suptitle(title)
    return fig


def show_thumbnails(images: Sequence, titles: Sequence[str], ncols: int = 5, size: float = 2.4,
                    suptitle: str = "") -> Figure:
    """A grid of PIL images (``None``: no picture, the title alone) with their full titles (each line wrapped);
    pixel art is enlarged without smoothing."""
    import textwrap

    n = len(images)
    nrows = max(1, -(-n // ncols))
    fig = Figure(figsize=(ncols * size, nrows * (size + 0.7)), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, title in zip(axes.flat, images, titles):
        if image is None:
            ax.text(0.5, 0.5, "(no licensed\npicture)", ha="center", va="center", fontsize=9, color="gray")
        else:
            ax.imshow(image, interpolation="nearest")
        ax.set_title("\n".join(w for line in title.split("\n") for w in textwrap.wrap(line, 26)), fontsize=9)
    if suptitle:
        fig.suptitle(suptitle)
    return fig
