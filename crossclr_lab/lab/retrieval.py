"""Companion of notebook 05 (retrieval and search): free-text search over clips with trained models, the
retrieval table and the verdicts computed from it. The R@K curves come from
:func:`crossclr_lab.metrics.recall_curves`, drawn by :func:`plot_recall_with_medr`.

- :class:`ClipSearch`: a text query -> top-k clips for each model. The query is embedded by the encoder the
  dataset's captions were embedded with (MiniLM, :func:`crossclr_lab.experts.text_encoder.embed_texts`), then by
  each model's trained text encoder, and compared (cosine) with the model's clip embeddings.

Example::

    search = ClipSearch({"CrossCLR": model_a, "InfoNCE": model_b}, gallery)
    hits = search.search("happy cat", k=5)          # {"CrossCLR": [Hit(rank=1, caption=...), ...], ...}
    search.show("happy cat")                        # a Figure: thumbnails + captions, one row per model
    ui = search.widget("happy cat")                 # ipywidgets: a query box and a top-K slider
    query_report(search, "happy cat", ["grinning cat"])   # where each model ranks the relevant clips
"""

from __future__ import annotations

import base64
import html
import io
import os
import textwrap
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor

from crossclr_lab.data.paired import PairedFeatures
from crossclr_lab.lab.findings import Claim, Table, Verdict, signed


# -- free-text search ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Hit:
    """One retrieved clip: its 1-based ``rank``, ``index`` into the gallery, ``id``, ``caption``, cosine ``score``
    and ``z``: how many standard deviations the score lies above the model's mean score over the gallery for
    this query (cosines of different models live on different spreads; z can be compared, the cosine cannot)."""

    rank: int
    index: int
    id: str
    caption: str
    score: float
    z: float = float("nan")


class ClipSearch:
    """Free-text search over ``gallery``'s clips with each of several trained dual encoders.

    Args:
        models: ``{name: DualEncoder}`` trained on the dataset ``gallery`` comes from (pooled-text MLP heads).
        gallery: the clips to search (:class:`PairedFeatures`); its captions' features define the text space.
        encode_query: ``list[str] -> [Q, Dt]`` features in the space of ``gallery.text_pooled`` (default: MiniLM,
            :func:`~crossclr_lab.experts.text_encoder.embed_texts`, the encoder of Emoji Motion's captions).
    """

    def __init__(self, models: dict, gallery: PairedFeatures,
                 encode_query: Callable[[list[str]], Tensor] | None = None):
        from crossclr_lab.training.trainer import embed

        if not models:
            raise ValueError("models is empty: pass {name: trained DualEncoder}")
        for name, model in models.items():
            if not getattr(model.text_encoder, "pooled_input", False):
                raise ValueError(f"model {name!r} encodes text tokens ([N, L, D]); free-text search needs a model "
                                 "whose text encoder takes pooled sentence features (encoder='mlp')")
        if encode_query is None:
            from crossclr_lab.experts.text_encoder import embed_texts as encode_query

            quiet_progress_bars()
        self.models, self.gallery, self.encode_query = dict(models), gallery, encode_query
        self.video_emb = {name: embed(model, gallery)[0] for name, model in self.models.items()}  # [N, D], unit

    def query_features(self, query: str) -> Tensor:
        """The query's input text features ``[1, Dt]`` (checked against the gallery's text space)."""
        if not isinstance(query, str) or not query.strip():
            raise ValueError(f"query must be a non-empty string, e.g. 'happy cat'; got {query!r}")
        feats = torch.as_tensor(self.encode_query([query.strip()])).float()
        dim = self.gallery.text_pooled.shape[1]
        if feats.shape != (1, dim):
            raise ValueError(f"the query encoder gives features of shape {tuple(feats.shape)}, but "
                             f"{self.gallery.name!r}'s captions are {dim}-d features: search needs the encoder the "
                             "dataset's captions were embedded with (MiniLM embed_texts for emoji_motion)")
        return feats

    @torch.no_grad()
    def scores(self, query: str) -> dict[str, Tensor]:
        """Each model's cosine score of every gallery clip for ``query``: ``{name: [N]}``."""
        feats = self.query_features(query)
        out = {}
        for name, model in self.models.items():
            was_training = model.training
            model.eval()
            device = next(model.parameters()).device
            q = model.encode_text(feats.to(device)).cpu()[0]                 # [D], unit norm
            model.train(was_training)
            out[name] = self.video_emb[name] @ q
        return out

    def ranks(self, query: str) -> dict[str, Tensor]:
        """Each model's 1-based rank of every gallery clip for ``query`` (1 = its best match): ``{name: [N]}``."""
        return {name: torch.empty_like(s, dtype=torch.long).scatter_(
                    0, torch.argsort(s, descending=True), torch.arange(1, len(s) + 1))
                for name, s in self.scores(query).items()}

    def search(self, query: str, k: int = 5) -> dict[str, list[Hit]]:
        """The top ``k`` clips for ``query`` under each model: ``{name: [Hit, ...]}`` (best first)."""
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be an int >= 1, got {k!r}")
        k = min(k, len(self.gallery))
        results = {}
        for name, scores in self.scores(query).items():
            mean, std = scores.mean(), scores.std().clamp_min(1e-12)
            top, index = scores.topk(k)
            results[name] = [Hit(r + 1, i, self.gallery.ids[i], self.gallery.captions[i], s, float((s - mean) / std))
                             for r, (i, s) in enumerate(zip(index.tolist(), top.tolist()))]
        return results

    def figure(self, results: dict[str, list[Hit]], query: str) -> Figure:
        """One row per model, one column per hit: the clip's thumbnail, caption and score."""
        k = max(len(h) for h in results.values())
        fig = Figure(figsize=(1.9 * k + 0.6, 2.3 * len(results) + 0.4), layout="constrained")
        axes = fig.subplots(len(results), k, squeeze=False)
        for row, (name, hits) in zip(axes, results.items()):
            for col, ax in enumerate(row):
                ax.set_xticks([])
                ax.set_yticks([])
                if col >= len(hits):
                    ax.axis("off")
                    continue
                hit = hits[col]
                picture = self._thumbnail(hit.index)
                if picture is None:
                    ax.text(0.5, 0.5, "no thumbnail", ha="center", va="center", fontsize=8, color="grey")
                else:
                    ax.imshow(picture, interpolation="nearest")
                label = hit.caption.split(" — ")[0]
                ax.set_title("\n".join(textwrap.wrap(label, 20)[:3]) + f"\nz = {hit.z:.1f}", fontsize=8)
            row[0].set_ylabel(name, fontsize=10)
        fig.suptitle(f"top {k} of {len(self.gallery)} clips for the query {query!r} (z: standard deviations above "
                     "the model's mean score for this query)", fontsize=10)
        return fig

    def _thumbnail(self, i: int):
        if self.gallery.thumbnail_fn is None:
            return None
        try:
            return np.asarray(self.gallery.thumbnail(i))
        except ValueError:  # the licensed thumbnail source has no picture for this clip
            return None

    def show(self, query: str, k: int = 5) -> Figure:
        """:meth:`search` then :meth:`figure`."""
        return self.figure(self.search(query, k), query)

    def widget(self, query: str = "happy cat", k: int = 5, options: Sequence[str] = ()) -> SearchWidget:
        """A :class:`SearchWidget` over this search: a query box (suggesting ``options``) and a top-K slider."""
        return SearchWidget(self, query, k, options)

    def thumbnail_uri(self, i: int) -> str | None:
        """Clip ``i``'s thumbnail as a ``data:image/png`` URI (made once, then cached); ``None`` without one."""
        cache = self.__dict__.setdefault("_uris", {})
        if i not in cache:
            picture = self._thumbnail(i)
            if picture is None:
                cache[i] = None
            else:
                from PIL import Image

                buffer = io.BytesIO()
                Image.fromarray(np.asarray(picture, dtype=np.uint8)).save(buffer, format="png")
                cache[i] = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
        return cache[i]

    def results_html(self, results: dict[str, list[Hit]], query: str) -> str:
        """:meth:`search` results as an HTML grid (one row per model: thumbnail, caption, z) for a widget: the
        browser lays it out in milliseconds, where a matplotlib figure of thumbnails takes a second to draw."""
        rows = []
        for name, hits in results.items():
            cards = []
            for hit in hits:
                uri = self.thumbnail_uri(hit.index)
                picture = (f"<img src='{uri}' style='width:96px;height:96px;image-rendering:pixelated'>" if uri else
                           "<div style='width:96px;height:96px;color:grey;font-size:11px;display:flex;"
                           "align-items:center;justify-content:center'>no thumbnail</div>")
                label = html.escape(hit.caption.split(" — ")[0])
                cards.append(f"<div style='width:112px;font-size:12px;text-align:center'>{picture}<div>{label}</div>"
                             f"<div style='color:#555'>z = {hit.z:.1f}</div></div>")
            rows.append(f"<div style='display:flex;gap:6px;align-items:flex-start;margin:4px 0'>"
                        f"<div style='width:80px;font-weight:bold'>{html.escape(name)}</div>{''.join(cards)}</div>")
        k = max(len(h) for h in results.values())
        return (f"<div class='crossclr-search-results'><div style='font-size:13px'>top {k} of {len(self.gallery)} "
                f"clips for the query <b>{html.escape(repr(query))}</b> (z: standard deviations above the model's "
                f"mean score for this query)</div>{''.join(rows)}</div>")


class SearchWidget:
    """A query box and a top-K slider over a :class:`ClipSearch`, the hits shown as an HTML grid.

    Each query is encoded once (``query_cache``), so moving the slider only re-ranks and rewrites the grid; slider
    drags are debounced (the last value wins). ``query``/``slider``: the controls; ``output``: the ``HTML`` widget;
    ``result``: the last :meth:`ClipSearch.search` result (``None`` while the box is empty); ``box``: the ``VBox``.
    """

    def __init__(self, search: ClipSearch, query: str = "happy cat", k: int = 5, options: Sequence[str] = ()):
        import ipywidgets as widgets

        from crossclr_lab.lab.live_figure import Debouncer

        self.search = search
        self.query_cache: dict[str, Tensor] = {}
        encode = search.encode_query

        def cached(texts: list[str]) -> Tensor:       # the query's features, encoded once per distinct query
            key = "\n".join(texts)
            if key not in self.query_cache:
                self.query_cache[key] = encode(texts)
            return self.query_cache[key]

        search.encode_query = cached
        self.query = widgets.Combobox(value=query, options=list(options), placeholder="type a query, e.g. happy cat",
                                      description="query", ensure_option=False, continuous_update=False)
        self.slider = widgets.IntSlider(value=k, min=1, max=10, description="top K", continuous_update=True)
        self.output = widgets.HTML()
        self.box = widgets.VBox([widgets.HBox([self.query, self.slider]), self.output])
        self.box.add_class("crossclr-search")
        self.result = None
        debounced = Debouncer(self.render, on_error=self._show_error)
        self.query.observe(debounced, names="value")
        self.slider.observe(debounced, names="value")
        self.render()

    def render(self) -> None:
        """Search for the box's query and show the slider's number of hits."""
        query = self.query.value.strip()
        if not query:
            self.result = None
            self.output.value = "<i>type a query, e.g. 'happy cat', and press Enter</i>"
            return
        self.result = self.search.search(query, self.slider.value)
        self.output.value = self.search.results_html(self.result, query)

    def _show_error(self, err: BaseException) -> None:
        self.output.value = f"<b style='color:#b00'>{html.escape(f'{type(err).__name__}: {err}')}</b>"

    def _repr_mimebundle_(self, **kwargs):
        return self.box._repr_mimebundle_(**kwargs)


def quiet_progress_bars() -> None:
    """Stop the sentence encoder's libraries from drawing download/loading progress bars (in a notebook they are
    widgets that stay frozen in saved outputs)."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        from transformers.utils import logging as transformers_logging
    except ImportError:      # no transformers: nothing draws these bars
        return
    transformers_logging.disable_progress_bar()


# -- curves, tables and computed verdicts --------------------------------------------------------------------------
def plot_recall_with_medr(curves: dict, n: int, title: str = "") -> Figure:
    """:func:`crossclr_lab.experiments.report.plot_recall_curves` with a 50 % line: where an exact curve crosses it, K
    is the
    median rank (MedR)."""
    from crossclr_lab.experiments.report import plot_recall_curves

    fig = plot_recall_curves(curves, n, title=title)
    for ax in fig.axes:
        ax.axhline(50, color="black", lw=0.8, ls="-.", label="50 %: a curve crosses it at K = MedR")
        ax.legend(loc="lower right", fontsize=7)
    return fig


def retrieval_findings(embeddings: dict[str, tuple], groups=None, name: str = "retrieval") -> Table:
    """Per model and direction (rows ``"<model> · text → video"``): R@1, R@5, R@10 (%), MedR and, with ``groups``,
    semantic R@1 and R@5 (:func:`crossclr_lab.metrics.retrieval_metrics`)."""
    from crossclr_lab.metrics import DIRECTION_NAMES, retrieval_metrics

    sem = groups is not None
    rows = []
    for model, (video_emb, text_emb) in embeddings.items():
        m = retrieval_metrics(video_emb, text_emb, groups=groups)
        for d, label in DIRECTION_NAMES.items():
            cells = [f"{m[f'{d}_r{k}']:.1f}" for k in (1, 5, 10)] + [f"{m[f'{d}_medr']:.0f}"]
            if sem:
                cells += [f"{m[f'{d}_sem_r{k}']:.1f}" for k in (1, 5)]
            rows.append([f"{model} · {label}"] + cells)
    return Table(name, ["model · direction", "R@1", "R@5", "R@10", "MedR"] + (["sem R@1", "sem R@5"] if sem else []),
                 rows, note="R@K in %, higher is better; MedR: the median rank of the true partner, lower is better.")


def retrieval_verdict(table: Table) -> Verdict:
    """Per direction: which model has the higher R@1 and which the lower MedR, and how large the semantic gap is."""
    from crossclr_lab.metrics import DIRECTION_NAMES

    claims, lines = [], []
    for label in DIRECTION_NAMES.values():
        rows = [r for r in table.rows if r[0].endswith(f"· {label}")]
        if len(rows) < 2:
            continue
        names = [r[0] for r in rows]
        best_r1 = max(rows, key=lambda r: float(r[1]))
        best_medr = min(rows, key=lambda r: float(r[4]))
        claims += [Claim(table.name, best_r1[0], "R@1", float(best_r1[1]), relation="max", among=names),
                   Claim(table.name, best_medr[0], "MedR", float(best_medr[4]), relation="min", among=names)]
        tie = len({r[1] for r in rows}) == 1
        line = (f"- **{label}**: " + ("R@1 is tied" if tie else f"the higher R@1 is {best_r1[0].split(' · ')[0]}'s "
                                      f"({best_r1[1]} %)")
                + f"; the lower median rank is {best_medr[0].split(' · ')[0]}'s ({best_medr[4]})")
        if "sem R@1" in table.columns:
            gaps = {r[0].split(" · ")[0]: float(r[5]) - float(r[1]) for r in rows}
            line += "; semantic minus exact R@1: " + ", ".join(f"{m} {signed(g)}" for m, g in gaps.items())
        lines.append(line + ".")
    text = ("One model per loss and one seed: notebook 03 tells whether such differences exceed seed noise.\n\n"
            + "\n".join(lines))
    return Verdict(f"{table.name}_verdict", text, claims)


def query_report(search: ClipSearch, query: str, relevant: Sequence[str], k: int = 5,
                 train_ids: set | None = None, name: str = "query") -> Table:
    """How each model ranks the clips relevant to ``query``: a clip is relevant when its name (the caption before
    " — ") contains one of the phrases in ``relevant``. Per model: the rank of the first relevant clip and how
    many relevant clips are in its top ``k``; a last row ranks the gallery's *captions* by their MiniLM similarity
    to the query (no trained model: what the sentence encoder alone finds). ``train_ids``: the training clips'
    ids, to count how many relevant clips the models were trained on."""
    if not relevant:
        raise ValueError("relevant must list at least one phrase a relevant clip's name contains, e.g. ['cat']")
    names = [c.split(" — ")[0].lower() for c in search.gallery.captions]
    is_relevant = torch.tensor([any(p.lower() in n for p in relevant) for n in names])
    n_relevant = int(is_relevant.sum())
    rows = []
    rankings = dict(search.ranks(query))
    text = search.gallery.text_pooled.float()
    q = search.query_features(query)[0]
    caption_scores = torch.nn.functional.normalize(text, dim=1) @ torch.nn.functional.normalize(q, dim=0)
    rankings["captions by MiniLM (no model)"] = torch.empty_like(caption_scores, dtype=torch.long).scatter_(
        0, torch.argsort(caption_scores, descending=True), torch.arange(1, len(caption_scores) + 1))
    for model, ranks in rankings.items():
        first = int(ranks[is_relevant].min()) if n_relevant else -1
        in_top = int((ranks[is_relevant] <= k).sum()) if n_relevant else 0
        rows.append([model, str(first) if n_relevant else "–", str(in_top)])
    trained = (sum(i in train_ids for i, r in zip(search.gallery.ids, is_relevant.tolist()) if r)
               if train_ids is not None else None)
    note = (f"query {query!r}; relevant: a clip name containing {', '.join(repr(p) for p in relevant)} — "
            f"{n_relevant} of the {len(names)} gallery clips"
            + (f", {trained} of them training clips" if trained is not None else "") + ".")
    return Table(name, ["ranking", "first relevant clip at rank", f"relevant clips in the top {k}"], rows, note=note)


def query_verdict(table: Table, query: str, k: int = 5) -> Verdict:
    """Per model whether ``query`` works (a relevant clip in the top ``k``), and what the caption-only ranking says
    about where the information is lost."""
    rank_col, top_col = table.columns[1], table.columns[2]
    claims, parts = [], []
    caption_row = table.rows[-1]
    for row in table.rows[:-1]:
        if row[1] == "–":
            return Verdict(f"{table.name}_verdict", f"No gallery clip is relevant to {query!r} by its name.", [])
        first, in_top = int(row[1]), int(row[2])
        works = first <= k
        claims += [Claim(table.name, row[0], rank_col, float(first)), Claim(table.name, row[0], top_col, float(in_top))]
        parts.append(f"**{row[0]}** " + (f"works: the first relevant clip is at rank {first}, and {in_top} of its top "
                                          f"{k} are relevant" if works else
                                          f"fails: the first relevant clip comes only at rank {first} ({in_top} "
                                          f"relevant in its top {k})"))
    caption_first = int(caption_row[1])
    claims.append(Claim(table.name, caption_row[0], rank_col, float(caption_first)))
    text = f"For {query!r}: " + "; ".join(parts) + "."
    failing = [r[0] for r in table.rows[:-1] if int(r[1]) > k]
    working = [r[0] for r in table.rows[:-1] if int(r[1]) <= k]
    if failing and working:
        text += (f" The same features serve both models, and {', '.join(working)} finds the relevant clips: the "
                 f"features can tell them apart, so what failed is {', '.join(failing)}'s training (its text or "
                 "video head).")
    elif failing and caption_first <= k:
        text += (f" The sentence encoder alone puts a relevant *caption* at rank {caption_first}, so the query's "
                 "features are fine and what is lost comes after them: in the trained heads, or in the video "
                 "features, which (EfficientNet-Lite0 appearance, a 4×4 motion grid) may not tell the relevant clips "
                 "from similar-looking ones. Neither model finds them, so the features are the first suspect.")
    elif failing:
        text += (f" Even the sentence encoder alone ranks the first relevant caption only at {caption_first}: the "
                 "query's words are far from the relevant captions' words, so the text side fails first.")
    return Verdict(f"{table.name}_verdict", text, claims)


def rank_table(search: ClipSearch, query: str, k: int = 5, name: str = "ranks") -> Table:
    """The union of the models' top-``k`` clips for ``query``, each with its rank under every model: rankings
    compared, not cosines (which live on different spreads)."""
    rankings = search.ranks(query)
    chosen: list[int] = []
    for ranks in rankings.values():
        for i in torch.argsort(ranks)[:k].tolist():
            if i not in chosen:
                chosen.append(i)
    rows = [[search.gallery.captions[i].split(" — ")[0]] + [str(int(r[i])) for r in rankings.values()]
            for i in chosen]
    return Table(name, ["clip"] + [f"rank under {m}" for m in rankings], rows,
                 note=f"query {query!r}; ranks among {len(search.gallery)} clips (1 = best).")
