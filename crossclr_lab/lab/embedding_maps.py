"""Companion of notebook 04 (embedding maps): 2-d maps of a joint video–text space (UMAP) and how tightly each
concept's variants cluster in it.

- :func:`joint_umap`: both modalities in one UMAP map (cosine distances and their exact neighbours precomputed,
  fixed ``random_state``).
- :func:`concept_tightness`: mean intra-concept distance / mean inter-concept distance, and the silhouette.
- :func:`tightness_table`: that measure for several spaces (models × modalities) as rows.
- :func:`plot_joint_maps`: maps side by side, video points as thumbnails (or coloured by a group), text points
  as markers, a line from each video to its paired text.
- :func:`map_widget` (:class:`MapWidget`): the same maps from a dropdown (thumbnails or a group) and a pair-lines
  toggle, each view drawn once.
- :func:`tightness_findings` / :func:`tightness_verdict`, :func:`modality_gap_table` / :func:`modality_gap_verdict`:
  the tables notebook 04 shows and the sentences computed from them.

Example::

    video_xy, text_xy = joint_umap(video_emb, text_emb, random_state=0)      # [N, 2] each
    concept_tightness(video_emb, data.groups["concept"])["ratio"]           # < 1: variants cluster
"""

from __future__ import annotations

import warnings
from collections import Counter
from typing import Sequence

import numpy as np
from matplotlib.figure import Figure

from crossclr_lab.data.paired import group_codes
from crossclr_lab.lab.findings import Claim, Table, Verdict


def _as_numpy(x, name: str) -> np.ndarray:
    arr = x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)
    if arr.ndim != 2 or len(arr) == 0:
        raise ValueError(f"{name} must be a non-empty [N, D] array or tensor, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or Inf values")
    return arr.astype(np.float64)


def sample_concepts(labels: Sequence, max_points: int, seed: int = 0) -> np.ndarray:
    """Indices of whole concepts drawn at random until ``max_points`` items are reached (sorted ``[M]``).

    Keeping every variant of a chosen concept is what lets a map show whether variants cluster.
    A single concept larger than ``max_points`` is cut to ``max_points`` items.
    """
    if max_points < 1:
        raise ValueError(f"max_points must be >= 1, got {max_points}")
    labels = group_codes(labels)
    if len(labels) <= max_points:
        return np.arange(len(labels))
    order = np.random.default_rng(seed).permutation(np.unique(labels))
    chosen: list[int] = []
    for concept in order:
        members = np.flatnonzero(labels == concept)
        if chosen and len(chosen) + len(members) > max_points:
            continue
        chosen.extend(members[: max_points - len(chosen)].tolist())
        if len(chosen) >= max_points:
            break
    return np.sort(np.asarray(chosen))


def exact_neighbours(distances: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest neighbours of every row of a distance matrix ``[M, M]`` (each point first, at distance
    0): ``(indices [M, k], distances [M, k])``, ordered as UMAP orders them for ``metric="precomputed"``
    (``np.argsort`` of each row)."""
    indices = np.argsort(distances, axis=1)[:, :k]
    return indices, np.take_along_axis(distances, indices, axis=1)


def joint_umap(video_emb, text_emb, n_neighbors: int = 15, min_dist: float = 0.1, random_state: int = 0,
               metric: str = "cosine") -> tuple[np.ndarray, np.ndarray]:
    """One UMAP map of both modalities: ``video_emb [N, D]``, ``text_emb [N, D]`` -> ``(video_xy, text_xy)``,
    ``[N, 2]`` each.

    The ``2N`` points are embedded together from their precomputed pairwise distances (``metric``), which is
    fast for small maps; ``random_state`` makes the map reproducible. The exact nearest neighbours are handed
    to UMAP (:func:`exact_neighbours`, the ones it would find itself), which spares it compiling its own
    neighbour search: about half of a first map's time in a fresh process.
    """
    from sklearn.metrics import pairwise_distances
    from umap import UMAP

    video, text = _as_numpy(video_emb, "video_emb"), _as_numpy(text_emb, "text_emb")
    if video.shape != text.shape:
        raise ValueError(f"video_emb {video.shape} and text_emb {text.shape} must both be [N, D] (row i = pair i)")
    points = np.concatenate([video, text])
    if len(points) < 4:
        raise ValueError(f"a UMAP map needs at least 2 pairs, got {len(video)}")
    if n_neighbors < 2:
        raise ValueError(f"n_neighbors must be >= 2, got {n_neighbors}")
    distances = pairwise_distances(points, metric=metric)
    k = min(n_neighbors, len(points) - 1)
    with warnings.catch_warnings():
        # a fixed random_state disables UMAP's parallelism, and it says so; that is the price of reproducibility
        warnings.filterwarnings("ignore", message=".*n_jobs value 1 overridden.*")
        warnings.filterwarnings("ignore", message=".*using precomputed metric; inverse_transform.*")
        # the neighbours come without UMAP's search index, so UMAP says that `transform` (new points onto a fitted
        # map) is unavailable: a map is fitted once and never extended here
        warnings.filterwarnings("ignore", message=".*knn_search_index.*not an NNDescent object.*")
        reducer = UMAP(n_neighbors=k, min_dist=min_dist, metric="precomputed", random_state=random_state,
                       precomputed_knn=(*exact_neighbours(distances, k), None))
        xy = reducer.fit_transform(distances)
    n = len(video)
    return xy[:n], xy[n:]


def concept_tightness(emb, labels: Sequence, metric: str = "cosine") -> dict[str, float]:
    """How tightly each concept's variants cluster in a space ``emb [N, D]`` with one label per row.

    Returns:
        ``intra``: mean distance between two variants of one concept, averaged over concepts with >= 2 items;
        ``inter``: mean distance between items of different concepts;
        ``ratio``: ``intra / inter`` (1 = variants no closer than strangers, lower = tighter);
        ``silhouette``: sklearn's silhouette score on the same distances (in [-1, 1], higher = tighter;
        NaN when it is undefined: fewer than 2 concepts or every concept a singleton);
        ``n_concepts``: concepts with >= 2 items (the ones ``intra`` averages over).
    """
    from sklearn.metrics import pairwise_distances, silhouette_score

    x = _as_numpy(emb, "emb")
    labels = group_codes(labels)
    if len(labels) != len(x):
        raise ValueError(f"need one label per row: {len(labels)} labels for {len(x)} rows")
    counts = Counter(labels.tolist())
    multi = [c for c, k in counts.items() if k >= 2]
    if len(counts) < 2 or not multi:
        raise ValueError("concept tightness needs >= 2 concepts and at least one concept with >= 2 items; got "
                         f"{len(counts)} concepts, largest with {max(counts.values())} items")
    d = pairwise_distances(x, metric=metric)
    same = labels[:, None] == labels[None, :]
    intra = float(np.mean([d[np.ix_(labels == c, labels == c)][~np.eye(counts[c], dtype=bool)].mean()
                           for c in multi]))
    inter = float(d[~same].mean())
    sil = float(silhouette_score(d, labels, metric="precomputed")) if len(counts) < len(labels) else float("nan")
    return {"intra": intra, "inter": inter, "ratio": intra / inter if inter > 0 else float("nan"),
            "silhouette": sil, "n_concepts": len(multi)}


def tightness_table(spaces: dict[str, object], labels: Sequence, metric: str = "cosine") -> list[dict]:
    """One row per named space (``{"InfoNCE · video": emb [N, D], ...}``) with :func:`concept_tightness`'s keys.

    A "joint" space is passed as both modalities stacked (``[2N, D]``); its labels are repeated to match.
    """
    labels = list(labels)
    rows = []
    for name, emb in spaces.items():
        n = len(emb)
        if n % len(labels):
            raise ValueError(f"space {name!r} has {n} rows, not a multiple of the {len(labels)} labels")
        rows.append({"space": name, **concept_tightness(emb, labels * (n // len(labels)), metric)})
    return rows


def _group_colours(values: list, max_colours: int) -> tuple[dict, list, int]:
    """Colours for the ``max_colours`` most frequent groups of ``values`` (tab10); the rest are drawn light grey.
    Returns ``(colour of each coloured group, coloured groups by frequency, number of groups in grey)``."""
    import matplotlib

    counts = Counter(values).most_common()
    coloured = [g for g, _ in counts[:max_colours]]
    palette = [matplotlib.colormaps["tab10"](i) for i in (0, 1, 2, 3, 4, 5, 6, 8, 9)]   # tab10 without its grey
    return ({g: palette[i % len(palette)] for i, g in enumerate(coloured)}, coloured,
            len(counts) - len(coloured))


OTHER_COLOUR = (0.82, 0.82, 0.82, 1.0)


def plot_joint_maps(maps: dict[str, tuple[np.ndarray, np.ndarray]], features, color_by: str | None = None,
                    thumbnails: bool = True, pair_lines: bool = True, thumb_zoom: float = 0.8,
                    max_colours: int = 8, panel_size: float = 6.0, subset: Sequence[int] | None = None,
                    one_picture_per: str | None = None, line_items: int = 12, picture_gap: float = 0.07) -> Figure:
    """Joint maps side by side: ``maps = {model name: (video_xy [N, 2], text_xy [N, 2])}`` over ``features`` (N items).

    ``thumbnails=True`` draws each video point as its clip's thumbnail (items without one: a grey dot) and each
    text point as a black ``×``; ``color_by`` (a ``features.groups`` key) instead colours both by group — the
    ``max_colours`` most frequent groups get a colour each, the others one light grey — video as ``●`` and
    text as ``▲``. ``pair_lines`` joins the video and text of ``line_items`` highlighted pairs (spread over the
    drawn items; a line for every pair makes a hairball). ``subset``: draw only these items (the map keeps the
    positions computed with all of them). ``one_picture_per`` (a group key): only the first clip of each group is
    drawn as a picture, its other clips (variants that sit on top of it) as small dots; a picture closer than
    ``picture_gap`` (a fraction of the map's width) to one already drawn becomes a dot too, so pictures do not
    pile up. The legend, under each map, lists only what is drawn.
    """
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage

    if not maps:
        raise ValueError("maps is empty: pass {name: (video_xy, text_xy)}")
    n = len(features)
    for name, (vxy, txy) in maps.items():
        if np.shape(vxy) != (n, 2) or np.shape(txy) != (n, 2):
            raise ValueError(f"map {name!r} must hold two [{n}, 2] arrays for the {n} items of features")
    if color_by is not None and color_by not in features.groups:
        raise ValueError(f"color_by {color_by!r} is not a group of {features.name!r}; choose one of "
                         f"{sorted(features.groups)}")
    if color_by is None and thumbnails and features.thumbnail_fn is None:
        raise ValueError(f"dataset {features.name!r} has no thumbnails: pass thumbnails=False or color_by=<group>")
    drawn = np.arange(n) if subset is None else np.asarray(subset, dtype=int)

    images, variants = {}, []
    if color_by is None and thumbnails:
        pictured_groups = set()
        for i in drawn.tolist():
            key = None if one_picture_per is None else features.groups[one_picture_per][i]
            if key is not None and key in pictured_groups:
                variants.append(i)
                continue
            try:
                images[i] = np.asarray(features.thumbnail(i))
                pictured_groups.add(key)
            except ValueError:  # the licensed thumbnail source has no picture for this clip
                pass

    fig = Figure(figsize=(panel_size * len(maps), panel_size), layout="constrained")
    axes = fig.subplots(1, len(maps), squeeze=False)[0]
    values = [features.groups[color_by][i] for i in drawn] if color_by else []
    colours, coloured, n_other = _group_colours(values, max_colours) if color_by else ({}, [], 0)
    lined = np.unique(np.linspace(0, len(drawn) - 1, min(line_items, len(drawn))).astype(int)) if pair_lines else []
    for ax, (name, (vxy, txy)) in zip(axes, maps.items()):
        vxy, txy = np.asarray(vxy)[drawn], np.asarray(txy)[drawn]
        if pair_lines:
            ax.add_collection(LineCollection(np.stack([vxy[lined], txy[lined]], 1), colors="black", linewidths=0.9,
                                             alpha=0.75, zorder=4))
        handles = []
        if color_by:
            c = [colours.get(g, OTHER_COLOUR) for g in values]
            order = np.argsort([g in colours for g in values], kind="stable")      # grey first, colours on top
            ax.scatter(vxy[order, 0], vxy[order, 1], c=[c[i] for i in order], marker="o", s=22, edgecolors="none",
                       zorder=2)
            ax.scatter(txy[order, 0], txy[order, 1], c=[c[i] for i in order], marker="^", s=22, edgecolors="black",
                       linewidths=0.3, zorder=3)
            handles += [Line2D([], [], ls="", marker="o", color="grey", label="video clip"),
                        Line2D([], [], ls="", marker="^", color="grey", markeredgecolor="black", label="text")]
            counts = Counter(values)
            handles += [Line2D([], [], ls="", marker="s", color=colours[g], label=f"{g} ({counts[g]})")
                        for g in coloured]
            if n_other:
                handles.append(Line2D([], [], ls="", marker="s", color=OTHER_COLOUR,
                                      label=f"{n_other} other {color_by} groups "
                                            f"({sum(counts[g] for g in counts if g not in colours)})"))
        else:
            missing = [k for k, i in enumerate(drawn.tolist()) if i not in images and i not in variants]
            others = [k for k, i in enumerate(drawn.tolist()) if i in variants]
            gap = picture_gap * float(np.ptp(np.concatenate([vxy, txy])[:, 0]) or 1.0)
            placed: list[np.ndarray] = []
            for k, i in enumerate(drawn.tolist()):
                if i in images:
                    if placed and np.min(np.linalg.norm(np.asarray(placed) - vxy[k], axis=1)) < gap:
                        others.append(k)                       # it would cover a picture: a dot instead
                        continue
                    placed.append(vxy[k])
                    ax.add_artist(AnnotationBbox(OffsetImage(images[i], zoom=thumb_zoom), vxy[k], frameon=False,
                                                 pad=0.0, zorder=2))
            if others:
                ax.scatter(vxy[others, 0], vxy[others, 1], color="tab:blue", s=10, zorder=1.5)   # under pictures
                handles.append(Line2D([], [], ls="", marker="o", ms=4, color="tab:blue",
                                      label=f"clip drawn as a dot: its picture would cover another ({len(others)})"))
            if missing:
                ax.scatter(vxy[missing, 0], vxy[missing, 1], color="grey", s=14, zorder=2)
                handles.append(Line2D([], [], ls="", marker="o", color="grey",
                                      label=(f"video clip without a picture ({len(missing)})" if images
                                             else "video clip")))
            ax.scatter(txy[:, 0], txy[:, 1], color="black", marker="x", s=14, linewidths=0.8, zorder=3)
            handles.append(Line2D([], [], ls="", marker="x", color="black", label="text"))
        if pair_lines:
            handles.append(Line2D([], [], color="black", lw=0.9, alpha=0.75,
                                  label=f"video–text pair ({len(lined)} of {len(drawn)} highlighted)"))
        allxy = np.concatenate([vxy, txy])
        pad = 0.05 * (allxy.max(0) - allxy.min(0) + 1e-9)
        ax.set_xlim(allxy[:, 0].min() - pad[0], allxy[:, 0].max() + pad[0])
        ax.set_ylim(allxy[:, 1].min() - pad[1], allxy[:, 1].max() + pad[1])
        ax.set_xlabel("UMAP 1")
        ax.set_ylabel("UMAP 2")
        what = f"coloured by {color_by}" if color_by else ("pictures: video clips" if images else "")
        ax.set_title(f"{name}: {len(drawn)} pairs" + (f", {what}" if what else ""))
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.1), fontsize=8, frameon=False,
                  ncols=2 if max(len(h.get_label()) for h in handles) < 34 else 1)   # under the map, off the data
    return fig


class MapWidget:
    """The maps of :func:`plot_joint_maps` behind a "colour by" dropdown (thumbnails or any group) and a pair-lines
    checkbox. The UMAP layouts are computed once (``maps``); each view is drawn once and kept as PNG bytes, and a
    background thread draws the other views after the first, so a change only swaps a picture (``ipywidgets.Image``,
    width of the page).

    ``color_by``/``pair_lines``: the controls; ``image``: the picture; ``figure``: the figure of the view shown
    (``None`` when it came from the PNG cache of a figure drawn in the background); ``box``: the ``VBox``.
    ``one_picture_per``: passed to :func:`plot_joint_maps` for the thumbnail view.
    """

    def __init__(self, maps: dict[str, tuple[np.ndarray, np.ndarray]], features, color_by: str | None = None,
                 one_picture_per: str | None = None, prerender: bool = True):
        import threading

        import ipywidgets as widgets

        from crossclr_lab.lab.live_figure import Debouncer

        choices = (["thumbnails"] if features.thumbnail_fn is not None else []) + sorted(features.groups)
        if not choices:
            raise ValueError(f"dataset {features.name!r} has neither thumbnails nor groups to draw the maps with")
        if color_by is not None and color_by not in choices:
            raise ValueError(f"color_by must be one of {choices}, got {color_by!r}")
        self.maps, self.features, self.one_picture_per = maps, features, one_picture_per
        self.color_by = widgets.Dropdown(options=choices, value=color_by or choices[0], description="colour by")
        self.pair_lines = widgets.Checkbox(value=True, description="pair lines")
        self.image = widgets.Image(format="png", layout=widgets.Layout(width="100%", height="auto"))
        self.box = widgets.VBox([widgets.HBox([self.color_by, self.pair_lines]), self.image])
        self.box.add_class("crossclr-maps")
        self._png: dict[tuple, bytes] = {}
        self.figure = None
        debounced = Debouncer(self.render)
        self.color_by.observe(debounced, names="value")
        self.pair_lines.observe(debounced, names="value")
        self.render()
        self.prerendering = None                # the background thread drawing every view (join() to wait)
        if prerender:
            views = [(c, p) for p in (True, False) for c in choices]     # the shown pair-lines setting first
            self.prerendering = threading.Thread(target=lambda: [self._view(*v) for v in views], daemon=True)
            self.prerendering.start()

    def draw(self, color_by: str, pair_lines: bool) -> Figure:
        """The figure of one view."""
        if color_by == "thumbnails":
            return plot_joint_maps(self.maps, self.features, pair_lines=pair_lines,
                                   one_picture_per=self.one_picture_per)
        return plot_joint_maps(self.maps, self.features, color_by=color_by, pair_lines=pair_lines)

    def _view(self, color_by: str, pair_lines: bool) -> tuple[bytes, Figure | None]:
        """``(png, figure)`` of a view: drawn now (figure returned) or taken from the cache (figure ``None``)."""
        import io

        key = (color_by, pair_lines)
        if key in self._png:
            return self._png[key], None
        fig = self.draw(color_by, pair_lines)       # no lock: an event never waits for the background thread
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=100)
        self._png[key] = buffer.getvalue()          # one dict store: atomic under the GIL
        return self._png[key], fig

    def render(self) -> None:
        """Show the view the controls select."""
        png, self.figure = self._view(self.color_by.value, self.pair_lines.value)
        self.image.value = png

    def _repr_mimebundle_(self, **kwargs):
        return self.box._repr_mimebundle_(**kwargs)


def map_widget(maps: dict[str, tuple[np.ndarray, np.ndarray]], features, color_by: str | None = None,
               one_picture_per: str | None = None) -> MapWidget:
    """A :class:`MapWidget` over ``maps`` (``{model: (video_xy, text_xy)}``) of ``features``."""
    return MapWidget(maps, features, color_by, one_picture_per)


# -- tables and computed verdicts ----------------------------------------------------------------------------------
def tightness_findings(rows: list[dict], name: str = "tightness") -> Table:
    """:func:`tightness_table` rows as a :class:`~crossclr_lab.lab.findings.Table` (``.markdown()`` for the text),
    for :func:`tightness_verdict`."""
    return Table(name, ["space", "intra-concept dist.", "inter-concept dist.", "ratio (lower = tighter)",
                        "silhouette (higher = tighter)"],
                 [[r["space"], f"{r['intra']:.3f}", f"{r['inter']:.3f}", f"{r['ratio']:.3f}",
                   f"{r['silhouette']:.3f}"] for r in rows])


def tightness_verdict(table: Table, models: Sequence[str] = ("InfoNCE", "CrossCLR")) -> Verdict:
    """Per modality: whether each model's space keeps a concept's variants tighter or looser than the input
    features did, and which model is tighter (``"<model> · <part>"`` and ``"input · <part>"`` rows)."""
    ratio = "ratio (lower = tighter)"
    values = {r[0]: float(r[3]) for r in table.rows}
    claims, lines = [], []
    for part in ("video", "text", "joint"):
        sentences = []
        base = f"input · {part}"
        if base in values:
            words = []
            for model in models:
                row = f"{model} · {part}"
                if row in values:
                    looser = values[row] > values[base]
                    claims.append(Claim(table.name, row, ratio, values[row], relation="gt" if looser else "le",
                                        other=base))
                    words.append(f"{model} is {'**looser**' if looser else '**tighter**'} ({values[row]:.3f})")
            sentences.append(f"against the input features (ratio {values[base]:.3f}), " + ", ".join(words))
        rows = [f"{m} · {part}" for m in models if f"{m} · {part}" in values]
        if len(rows) == 2 and values[rows[0]] != values[rows[1]]:
            tighter, other = sorted(rows, key=values.get)
            claims.append(Claim(table.name, tighter, ratio, values[tighter], relation="lt", other=other))
            sentences.append(f"{tighter.split(' · ')[0]} keeps concepts tighter than {other.split(' · ')[0]} "
                             f"({values[tighter]:.3f} vs {values[other]:.3f})")
        if sentences:
            lines.append(f"- **{part}**: " + "; ".join(sentences) + ".")
    text = ("Concept tightness, computed from the table (one model per loss and one seed: treat small gaps as "
            "noise):\n\n" + "\n".join(lines))
    return Verdict(f"{table.name}_verdict", text, claims)


def modality_gap_table(embeddings: dict[str, tuple], name: str = "modality_gap") -> Table:
    """Per model (``{name: (video_emb [N, D], text_emb [N, D])}``): the mean cosine between a clip and its own
    caption, between two different clips, between two different captions, and between a clip and another clip's
    caption."""
    rows = []
    for model, (video, text) in embeddings.items():
        v = _as_numpy(video, "video_emb")
        t = _as_numpy(text, "text_emb")
        v = v / np.linalg.norm(v, axis=1, keepdims=True)
        t = t / np.linalg.norm(t, axis=1, keepdims=True)
        off = ~np.eye(len(v), dtype=bool)
        cross = v @ t.T
        rows.append([model, f"{np.diagonal(cross).mean():.2f}", f"{(v @ v.T)[off].mean():.2f}",
                     f"{(t @ t.T)[off].mean():.2f}", f"{cross[off].mean():.2f}"])
    return Table(name, ["model", "clip ↔ its caption", "clip ↔ other clip", "caption ↔ other caption",
                        "clip ↔ other caption"], rows, note="mean cosine similarity in the joint space, all pairs "
                                                            "of the measured split")


def modality_gap_verdict(table: Table) -> Verdict:
    """Per model: whether two clips and two captions are more alike than a clip and an unrelated caption (the
    modalities sit apart: a modality gap), and whether a clip is closer to its own caption than to other captions
    (what retrieval needs)."""
    claims, parts = [], []
    cross = "clip ↔ other caption"
    for model, own, clips, captions, other in table.rows:
        gap = float(clips) > float(other) and float(captions) > float(other)
        claims += [Claim(table.name, model, "clip ↔ other clip", float(clips), relation="gt" if gap else None,
                         other_column=cross if gap else None),
                   Claim(table.name, model, "caption ↔ other caption", float(captions),
                         relation="gt" if gap else None, other_column=cross if gap else None),
                   Claim(table.name, model, cross, float(other)),
                   Claim(table.name, model, "clip ↔ its caption", float(own),
                         relation="gt" if float(own) > float(other) else "le", other_column=cross)]
        parts.append(f"in **{model}**, two clips ({clips}) and two captions ({captions}) are "
                     + ("*more* alike than a clip and an unrelated caption" if gap else
                        "not both more alike than a clip and an unrelated caption")
                     + f" ({other}): " + (f"the two modalities sit apart, a modality gap of about "
                                          f"{min(float(clips), float(captions)) - float(other):.2f} in cosine"
                                          if gap else "no modality gap")
                     + f"; a clip is {'closer' if float(own) > float(other) else '*not* closer'} to its own caption "
                     f"({own}) than to other captions, which is what retrieval needs")
    return Verdict(f"{table.name}_verdict", "Measured in the joint space itself: " + "; ".join(parts) + ".", claims)
