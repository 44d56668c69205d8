"""Search the clips of a dataset with trained dual encoders: by free text, or by one item's caption (its id).

A free-text query is embedded by the encoder the dataset's captions were embedded with (MiniLM,
:func:`crossclr_lab.experts.text_encoder.embed_texts`, for Emoji Motion and for folder datasets whose text view is
MiniLM), then by each model's trained text encoder, and compared (cosine) with the model's clip embeddings. An id
query uses that item's own caption features, so it works on any dataset. ``crossclr-lab search`` is the command.

Example::

    search = ClipSearch({"CrossCLR": model_a, "InfoNCE": model_b}, gallery)
    hits = search.search("happy cat", k=5)          # {"CrossCLR": [Hit(rank=1, caption=...), ...], ...}
    hits = search.search_id("test-0042", k=5)       # the clips nearest to that item's caption
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from crossclr_lab.data.paired import PairedFeatures


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


def quiet_progress_bars() -> None:
    """Stop the sentence encoder's libraries from drawing download/loading progress bars (in a notebook they are
    widgets that stay frozen in saved outputs)."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        from transformers.utils import logging as transformers_logging
    except ImportError:      # no transformers: nothing draws these bars
        return
    transformers_logging.disable_progress_bar()


class ClipSearch:
    """Search over ``gallery``'s clips with each of several trained dual encoders.

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
        self.models, self.gallery, self._encode_query = dict(models), gallery, encode_query
        self.video_emb = {name: embed(model, gallery)[0] for name, model in self.models.items()}  # [N, D], unit

    def encode_query(self, texts: list[str]) -> Tensor:
        """``[Q, Dt]`` input features of ``texts`` (the encoder given, else MiniLM, loaded on first use)."""
        if self._encode_query is None:
            from crossclr_lab.experts.text_encoder import embed_texts

            quiet_progress_bars()
            self._encode_query = embed_texts
        return self._encode_query(texts)

    def query_features(self, query: str) -> Tensor:
        """The query's input text features ``[1, Dt]`` (checked against the gallery's text space)."""
        if not isinstance(query, str) or not query.strip():
            raise ValueError(f"query must be a non-empty string, e.g. 'happy cat'; got {query!r}")
        dim = self.gallery.text_pooled.shape[1]
        if self._encode_query is None and dim != 384:
            raise ValueError(f"{self.gallery.name!r}'s captions are {dim}-d features, not MiniLM's 384-d: free-text "
                             "search needs the encoder its captions were embedded with; search by an item's id "
                             "instead (crossclr-lab search --id ID)")
        feats = torch.as_tensor(self.encode_query([query.strip()])).float()
        if feats.shape != (1, dim):
            raise ValueError(f"the query encoder gives features of shape {tuple(feats.shape)}, but "
                             f"{self.gallery.name!r}'s captions are {dim}-d features: search needs the encoder the "
                             "dataset's captions were embedded with (MiniLM embed_texts for emoji_motion)")
        return feats

    def id_features(self, item_id: str) -> Tensor:
        """The pooled caption features ``[1, Dt]`` of the gallery item ``item_id``."""
        try:
            i = self.gallery.ids.index(item_id)
        except ValueError:
            raise ValueError(f"no item {item_id!r} in {self.gallery.name!r} ({len(self.gallery)} items, e.g. "
                             f"{', '.join(repr(x) for x in self.gallery.ids[:3])})") from None
        return self.gallery.text_pooled[i:i + 1].float()

    @torch.no_grad()
    def scores_of(self, feats: Tensor) -> dict[str, Tensor]:
        """Each model's cosine score of every gallery clip for query features ``[1, Dt]``: ``{name: [N]}``."""
        out = {}
        for name, model in self.models.items():
            was_training = model.training
            model.eval()
            device = next(model.parameters()).device
            q = model.encode_text(feats.to(device)).cpu()[0]                 # [D], unit norm
            model.train(was_training)
            out[name] = self.video_emb[name] @ q
        return out

    def scores(self, query: str) -> dict[str, Tensor]:
        """Each model's cosine score of every gallery clip for the text ``query``: ``{name: [N]}``."""
        return self.scores_of(self.query_features(query))

    def ranks(self, query: str) -> dict[str, Tensor]:
        """Each model's 1-based rank of every gallery clip for ``query`` (1 = its best match): ``{name: [N]}``."""
        return {name: torch.empty_like(s, dtype=torch.long).scatter_(
                    0, torch.argsort(s, descending=True), torch.arange(1, len(s) + 1))
                for name, s in self.scores(query).items()}

    def search(self, query: str, k: int = 5) -> dict[str, list[Hit]]:
        """The top ``k`` clips for the text ``query`` under each model: ``{name: [Hit, ...]}`` (best first)."""
        return self._top(self.scores(query), k)

    def search_id(self, item_id: str, k: int = 5) -> dict[str, list[Hit]]:
        """The top ``k`` clips for the caption of gallery item ``item_id`` (its own clip is the right answer)."""
        return self._top(self.scores_of(self.id_features(item_id)), k)

    def _top(self, all_scores: dict[str, Tensor], k: int) -> dict[str, list[Hit]]:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be an int >= 1, got {k!r}")
        k = min(k, len(self.gallery))
        results = {}
        for name, scores in all_scores.items():
            mean, std = scores.mean(), scores.std().clamp_min(1e-12)
            top, index = scores.topk(k)
            results[name] = [Hit(r + 1, i, self.gallery.ids[i], self.gallery.captions[i], s, float((s - mean) / std))
                             for r, (i, s) in enumerate(zip(index.tolist(), top.tolist()))]
        return results
