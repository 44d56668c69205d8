"""Companion of notebook 04 (embedding maps): 2-d maps of a joint video–text space (UMAP) and how tightly each
concept's variants cluster in it.

- :func:`joint_umap`: both modalities in one UMAP map (cosine distances, precomputed, fixed ``random_state``).
- :func:`concept_tightness`: mean intra-concept distance / mean inter-concept distance, and the silhouette.
- :func:`tightness_table`: that measure for several spaces (models × modalities) as rows.
- :func:`plot_joint_maps`: maps side by side, video points as thumbnails (or coloured by a group), text points
  as markers, a line from each video to its paired text.
- :func:`map_widget`: the same maps redrawn from a dropdown (thumbnails or a group) and a pair-lines toggle.

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


def joint_umap(video_emb, text_emb, n_neighbors: int = 15, min_dist: float = 0.1, random_state: int = 0,
               metric: str = "cosine") -> tuple[np.ndarray, np.ndarray]:
    """One UMAP map of both modalities: ``video_emb [N, D]``, ``text_emb [N, D]`` -> ``(video_xy, text_xy)``,
    ``[N, 2]`` each.

    The ``2N`` points are embedded together from their precomputed pairwise distances (``metric``), which is
    fast for small maps; ``random_state`` makes the map reproducible.
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
    reducer = UMAP(n_neighbors=min(n_neighbors, len(points) - 1), min_dist=min_dist, metric="precomputed",
                   random_state=random_state)
    with warnings.catch_warnings():
        # a fixed random_state disables UMAP's parallelism, and it says so; that is the price of reproducibility
        warnings.filterwarnings("ignore", message=".*n_jobs value 1 overridden.*")
        warnings.filterwarnings("ignore", message=".*using precomputed metric; inverse_transform.*")
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


def format_tightness(rows: list[dict]) -> str:
    """A Markdown table of :func:`tightness_table` rows."""
    lines = ["| space | intra-concept dist. | inter-concept dist. | ratio (lower = tighter) "
             "| silhouette (higher = tighter) |",
             "|---|---|---|---|---|"]
    lines += [f"| {r['space']} | {r['intra']:.3f} | {r['inter']:.3f} | {r['ratio']:.3f} | {r['silhouette']:.3f} |"
              for r in rows]
    return "\n".join(lines)


def _group_colours(values: list) -> tuple[dict, list]:
    import matplotlib

    try:
        names = sorted(set(values))
    except TypeError:  # mixed label types: order by their text
        names = sorted(set(values), key=str)
    cmap = matplotlib.colormaps["tab20" if len(names) > 10 else "tab10"]
    colours = {v: cmap(i % cmap.N) for i, v in enumerate(names)}
    return colours, names


def plot_joint_maps(maps: dict[str, tuple[np.ndarray, np.ndarray]], features, color_by: str | None = None,
                    thumbnails: bool = True, pair_lines: bool = True, thumb_zoom: float = 0.45,
                    max_legend: int = 12, panel_size: float = 6.0) -> Figure:
    """Joint maps side by side: ``maps = {model name: (video_xy [N, 2], text_xy [N, 2])}`` over ``features`` (N items).

    ``thumbnails=True`` draws each video point as its clip's thumbnail (items without one: a grey dot) and each
    text point as a black ``×``; ``color_by`` (a ``features.groups`` key) instead colours both by group,
    video as ``●`` and text as ``▲``. ``pair_lines`` joins each video to its paired text.
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

    images = []
    if color_by is None and thumbnails:
        for i in range(n):
            try:
                images.append(np.asarray(features.thumbnail(i)))
            except ValueError:  # the licensed thumbnail source has no picture for this clip
                images.append(None)

    fig = Figure(figsize=(panel_size * len(maps), panel_size), layout="constrained")
    axes = fig.subplots(1, len(maps), squeeze=False)[0]
    colours, names = _group_colours(features.groups[color_by]) if color_by else ({}, [])
    for ax, (name, (vxy, txy)) in zip(axes, maps.items()):
        vxy, txy = np.asarray(vxy), np.asarray(txy)
        if pair_lines:
            ax.add_collection(LineCollection(np.stack([vxy, txy], 1), colors="grey", linewidths=0.5, alpha=0.35,
                                             zorder=1))
        handles = []
        if color_by:
            c = [colours[g] for g in features.groups[color_by]]
            ax.scatter(vxy[:, 0], vxy[:, 1], c=c, marker="o", s=22, edgecolors="none", zorder=2)
            ax.scatter(txy[:, 0], txy[:, 1], c=c, marker="^", s=22, edgecolors="black", linewidths=0.3, zorder=3)
            handles += [Line2D([], [], ls="", marker="o", color="grey", label="video clip"),
                        Line2D([], [], ls="", marker="^", color="grey", markeredgecolor="black", label="text")]
            shown = names[:max_legend]
            handles += [Line2D([], [], ls="", marker="s", color=colours[g], label=str(g)) for g in shown]
            if len(names) > max_legend:
                handles.append(Line2D([], [], ls="", label=f"(+{len(names) - max_legend} more {color_by}s)"))
        else:
            missing = [i for i in range(n) if not images or images[i] is None]
            if images:
                for i, img in enumerate(images):
                    if img is not None:
                        ax.add_artist(AnnotationBbox(OffsetImage(img, zoom=thumb_zoom), vxy[i], frameon=False,
                                                     pad=0.0, zorder=2))
                handles.append(Line2D([], [], ls="", marker="o", color="goldenrod", label="video clip (thumbnail)"))
            if missing:
                ax.scatter(vxy[missing, 0], vxy[missing, 1], color="grey", s=14, zorder=2)
                handles.append(Line2D([], [], ls="", marker="o", color="grey",
                                      label=(f"video clip ({len(missing)} without thumbnail)" if images
                                             else "video clip")))
            ax.scatter(txy[:, 0], txy[:, 1], color="black", marker="x", s=14, linewidths=0.8, zorder=3)
            handles.append(Line2D([], [], ls="", marker="x", color="black", label="text"))
        if pair_lines:
            handles.append(Line2D([], [], color="grey", lw=0.8, alpha=0.6, label="video–text pair"))
        allxy = np.concatenate([vxy, txy])
        pad = 0.05 * (allxy.max(0) - allxy.min(0) + 1e-9)
        ax.set_xlim(allxy[:, 0].min() - pad[0], allxy[:, 0].max() + pad[0])
        ax.set_ylim(allxy[:, 1].min() - pad[1], allxy[:, 1].max() + pad[1])
        ax.set_xlabel("UMAP 1")
        ax.set_ylabel("UMAP 2")
        ax.set_title(f"{name}: {n} pairs" + (f", coloured by {color_by}" if color_by else ""))
        ax.legend(handles=handles, loc="best", fontsize=7, framealpha=0.8)
    return fig


def map_widget(maps: dict[str, tuple[np.ndarray, np.ndarray]], features, color_by: str | None = None):
    """An ``ipywidgets.interactive`` redrawing :func:`plot_joint_maps` (the UMAP layouts are kept).

    ``ui.children[0]``: a dropdown with "thumbnails" (when the dataset has them) and every group of ``features``;
    ``ui.children[1]``: the pair-lines checkbox; ``ui.result``: the last figure.
    """
    import ipywidgets as widgets
    from IPython.display import display

    choices = (["thumbnails"] if features.thumbnail_fn is not None else []) + sorted(features.groups)
    if not choices:
        raise ValueError(f"dataset {features.name!r} has neither thumbnails nor groups to draw the maps with")
    if color_by is not None and color_by not in choices:
        raise ValueError(f"color_by must be one of {choices}, got {color_by!r}")

    def redraw(color_by: str, pair_lines: bool) -> Figure:
        if color_by == "thumbnails":
            fig = plot_joint_maps(maps, features, pair_lines=pair_lines)
        else:
            fig = plot_joint_maps(maps, features, color_by=color_by, pair_lines=pair_lines)
        display(fig)
        return fig

    return widgets.interactive(redraw, color_by=widgets.Dropdown(options=choices, value=color_by or choices[0],
                                                                  description="colour by"),
                               pair_lines=widgets.Checkbox(value=True, description="pair lines"))
