"""Companion of notebook 05 (retrieval and search): free-text search over clips with trained models. The R@K
curves and tables of that notebook come from :func:`crossclr_lab.metrics.recall_curves`,
:func:`crossclr_lab.report.plot_recall_curves` and :func:`crossclr_lab.report.retrieval_table`.

- :class:`ClipSearch`: a text query -> top-k clips for each model. The query is embedded by the encoder the
  dataset's captions were embedded with (MiniLM, :func:`crossclr_lab.data.text_encoder.embed_texts`), then by
  each model's trained text encoder, and compared (cosine) with the model's clip embeddings.

Example::

    search = ClipSearch({"CrossCLR": model_a, "InfoNCE": model_b}, gallery)
    hits = search.search("happy cat", k=5)          # {"CrossCLR": [Hit(rank=1, caption=...), ...], ...}
    search.show("happy cat")                        # a Figure: thumbnails + captions, one row per model
    ui = search.widget("happy cat")                 # ipywidgets: a query box and a top-K slider
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor

from crossclr_lab.data.paired import PairedFeatures


# -- free-text search ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Hit:
    """One retrieved clip: its 1-based ``rank``, ``index`` into the gallery, ``id``, ``caption`` and cosine
    ``score``."""

    rank: int
    index: int
    id: str
    caption: str
    score: float


class ClipSearch:
    """Free-text search over ``gallery``'s clips with each of several trained dual encoders.

    Args:
        models: ``{name: DualEncoder}`` trained on the dataset ``gallery`` comes from (pooled-text MLP heads).
        gallery: the clips to search (:class:`PairedFeatures`); its captions' features define the text space.
        encode_query: ``list[str] -> [Q, Dt]`` features in the space of ``gallery.text_pooled`` (default: MiniLM,
            :func:`~crossclr_lab.data.text_encoder.embed_texts`, the encoder of Emoji Motion's captions).
    """

    def __init__(self, models: dict, gallery: PairedFeatures,
                 encode_query: Callable[[list[str]], Tensor] | None = None):
        from crossclr_lab.train import embed

        if not models:
            raise ValueError("models is empty: pass {name: trained DualEncoder}")
        for name, model in models.items():
            if not getattr(model.text_encoder, "pooled_input", False):
                raise ValueError(f"model {name!r} encodes text tokens ([N, L, D]); free-text search needs a model "
                                 "whose text encoder takes pooled sentence features (encoder='mlp')")
        if encode_query is None:
            from crossclr_lab.data.text_encoder import embed_texts as encode_query
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
    def search(self, query: str, k: int = 5) -> dict[str, list[Hit]]:
        """The top ``k`` clips for ``query`` under each model: ``{name: [Hit, ...]}`` (best first)."""
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be an int >= 1, got {k!r}")
        feats = self.query_features(query)
        k = min(k, len(self.gallery))
        results = {}
        for name, model in self.models.items():
            was_training = model.training
            model.eval()
            device = next(model.parameters()).device
            q = model.encode_text(feats.to(device)).cpu()[0]                 # [D], unit norm
            model.train(was_training)
            scores, index = (self.video_emb[name] @ q).topk(k)
            results[name] = [Hit(r + 1, i, self.gallery.ids[i], self.gallery.captions[i], s)
                             for r, (i, s) in enumerate(zip(index.tolist(), scores.tolist()))]
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
                ax.set_title("\n".join(textwrap.wrap(hit.caption, 20)[:3]) + f"\n{hit.score:.2f}", fontsize=8)
            row[0].set_ylabel(name, fontsize=10)
        fig.suptitle(f"top {k} of {len(self.gallery)} clips for the query {query!r} (number: cosine similarity)",
                     fontsize=10)
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

    def widget(self, query: str = "happy cat", k: int = 5, options: Sequence[str] = ()):
        """An ``ipywidgets.interactive``: a query box (suggesting ``options``) and a top-K slider.

        ``ui.children[0]`` is the query box, ``ui.children[1]`` the slider, ``ui.result`` the last figure (``None``
        while the box is empty).
        """
        import ipywidgets as widgets
        from IPython.display import display

        def update(query: str, k: int):
            if not query.strip():
                print("type a query, e.g. 'happy cat', and press Enter")
                return None
            fig = self.show(query, k)
            display(fig)
            return fig

        box = widgets.Combobox(value=query, options=list(options), placeholder="type a query, e.g. happy cat",
                               description="query", ensure_option=False, continuous_update=False)
        slider = widgets.IntSlider(value=k, min=1, max=10, description="top K", continuous_update=False)
        return widgets.interactive(update, query=box, k=slider)
