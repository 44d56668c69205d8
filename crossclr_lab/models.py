"""Per-modality encoders into a joint space and the dual encoder that holds them.

- :class:`MLPEncoder`: a projection head over pooled features ``[B, D]``.
- :class:`TemporalEncoder`: a 1-layer transformer over frame/token features ``[B, T, D]`` with masked mean
  and learned attention pooling, in the spirit of COOT's local level.
- :class:`DualEncoder`: one encoder per modality and, optionally, a learnable temperature (log-scale).

Outputs of ``forward`` are *not* normalised (the losses normalise inside); ``encode_video``/``encode_text``
return L2-normalised embeddings for retrieval.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor, nn

from crossclr_lab.checks import check_int, check_number, check_positive
from crossclr_lab.data.paired import PairedFeatures, masked_mean
from crossclr_lab.utils import l2_normalize

ENCODERS = ("mlp", "temporal")


def _check_sizes(**values) -> None:
    for name, value in values.items():
        check_int(name, value, minimum=1)


class MLPEncoder(nn.Module):
    """Two-layer projection head: ``[B, in_dim]`` (or ``[B, T, in_dim]`` + lengths, mean-pooled) -> ``[B, out_dim]``.

    Example::

        enc = MLPEncoder(512, out_dim=256)
        z = enc(torch.randn(8, 512))          # [8, 256]
    """

    pooled_input = True

    def __init__(self, in_dim: int, out_dim: int = 256, hidden_dim: int = 512, dropout: float = 0.1):
        super().__init__()
        _check_sizes(in_dim=in_dim, out_dim=out_dim, hidden_dim=hidden_dim)
        check_number("dropout", dropout, minimum=0.0, below=1.0)
        self.net = nn.Sequential(nn.LayerNorm(in_dim), nn.Linear(in_dim, hidden_dim), nn.GELU(),
                                 nn.Dropout(dropout), nn.Linear(hidden_dim, out_dim))

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        if x.dim() == 3:
            if lengths is None:
                lengths = torch.full((x.shape[0],), x.shape[1], dtype=torch.long, device=x.device)
            x = masked_mean(x, lengths)
        elif x.dim() != 2:
            raise ValueError(f"MLPEncoder expects [B, D] or [B, T, D] input, got shape {tuple(x.shape)}")
        return self.net(x)


class TemporalEncoder(nn.Module):
    """1-layer transformer over ``[B, T, in_dim]`` with ``lengths [B]`` -> ``[B, out_dim]``.

    Frames are projected to ``d_model``, get a learned position embedding, pass one transformer layer (padding
    masked out), and are pooled two ways — masked mean and a learned attention pooling — whose concatenation is
    projected to the joint space.

    Example::

        enc = TemporalEncoder(512, out_dim=256, max_len=32)
        z = enc(torch.randn(4, 32, 512), torch.tensor([32, 10, 5, 1]))   # [4, 256]
    """

    pooled_input = False

    def __init__(self, in_dim: int, out_dim: int = 256, d_model: int = 256, num_heads: int = 4,
                 max_len: int = 128, dropout: float = 0.1):
        super().__init__()
        _check_sizes(in_dim=in_dim, out_dim=out_dim, d_model=d_model, num_heads=num_heads, max_len=max_len)
        check_number("dropout", dropout, minimum=0.0, below=1.0)
        if d_model % num_heads:
            raise ValueError(f"d_model ({d_model}) must be divisible by num_heads ({num_heads})")
        self.max_len = max_len
        self.input_proj = nn.Sequential(nn.LayerNorm(in_dim), nn.Linear(in_dim, d_model))
        self.pos_embed = nn.Parameter(torch.zeros(max_len, d_model))
        nn.init.normal_(self.pos_embed, std=0.02)
        layer = nn.TransformerEncoderLayer(d_model, num_heads, dim_feedforward=2 * d_model, dropout=dropout,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.transformer = nn.TransformerEncoder(layer, num_layers=1, enable_nested_tensor=False)
        self.attn_score = nn.Linear(d_model, 1)
        self.out_proj = nn.Linear(2 * d_model, out_dim)

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        if x.dim() != 3:
            raise ValueError(f"TemporalEncoder expects [B, T, D] input, got shape {tuple(x.shape)}; "
                             "use MLPEncoder for pooled features")
        b, t, _ = x.shape
        if t > self.max_len:
            raise ValueError(f"sequence length {t} exceeds max_len={self.max_len}; "
                             "build the encoder with a larger max_len")
        valid = torch.arange(t, device=x.device)[None, :] < lengths.to(x.device)[:, None]  # [B, T] bool
        h = self.input_proj(x) + self.pos_embed[:t]
        h = self.transformer(h, src_key_padding_mask=~valid)
        mean = masked_mean(h, lengths)
        scores = self.attn_score(h).squeeze(-1)  # [B, T]; bf16/fp16 under autocast
        scores = scores.masked_fill(~valid, torch.finfo(scores.dtype).min)
        attn = (scores.softmax(dim=1).unsqueeze(-1) * h).sum(1)
        return self.out_proj(torch.cat([mean, attn], dim=-1))


class DualEncoder(nn.Module):
    """A video encoder and a text encoder into one joint space, plus an optional learnable temperature.

    ``forward(batch)`` takes a batch from :func:`crossclr_lab.data.collate_paired` and returns unnormalised
    ``(video_emb [B, D], text_emb [B, D])``. With ``learn_temperature=True`` the model holds
    ``log_temperature`` (a log-scale parameter, as in CLIP/open_clip) and :attr:`temperature` returns it
    exponentiated; otherwise :attr:`temperature` is ``None`` and the loss's fixed temperature applies.

    Example::

        model = build_model(features, encoder="mlp")
        v, t = model(batch)                     # raw embeddings for the loss
        v_n = model.encode_video(features.video_pooled)   # normalised, for retrieval
    """

    def __init__(self, video_encoder: nn.Module, text_encoder: nn.Module, learn_temperature: bool = False,
                 init_temperature: float = 0.03):
        super().__init__()
        check_positive("init_temperature", init_temperature)
        self.video_encoder = video_encoder
        self.text_encoder = text_encoder
        self.log_temperature = nn.Parameter(torch.tensor(math.log(init_temperature))) if learn_temperature else None

    @property
    def temperature(self) -> Tensor | None:
        """The learnable temperature (a 0-d tensor), or ``None`` when the loss's fixed one is used."""
        return None if self.log_temperature is None else self.log_temperature.exp()

    @staticmethod
    def _inputs(encoder: nn.Module, batch: dict, modality: str) -> tuple[Tensor, Tensor | None]:
        if encoder.pooled_input:
            return batch[f"{modality}_pooled"], None
        return batch[modality], batch[f"{modality}_length"]

    def input_fields(self) -> tuple[str, ...]:
        """The batch keys :meth:`forward` reads: ``<modality>_pooled`` for a pooled-input encoder, else
        ``<modality>`` and ``<modality>_length``."""
        return tuple(key for encoder, modality in ((self.video_encoder, "video"), (self.text_encoder, "text"))
                     for key in ((f"{modality}_pooled",) if encoder.pooled_input
                                 else (modality, f"{modality}_length")))

    def forward(self, batch: dict) -> tuple[Tensor, Tensor]:
        video = self.video_encoder(*self._inputs(self.video_encoder, batch, "video"))
        text = self.text_encoder(*self._inputs(self.text_encoder, batch, "text"))
        return video, text

    def encode_video(self, video: Tensor, lengths: Tensor | None = None) -> Tensor:
        """L2-normalised video embeddings ``[B, D]`` from ``[B, Dv]`` pooled or ``[B, T, Dv]`` frame features."""
        return l2_normalize(self.video_encoder(video, lengths).float())

    def encode_text(self, text: Tensor, lengths: Tensor | None = None) -> Tensor:
        """L2-normalised text embeddings ``[B, D]`` from ``[B, Dt]`` pooled or ``[B, L, Dt]`` token features."""
        return l2_normalize(self.text_encoder(text, lengths).float())

    def encode_batch(self, batch: dict) -> tuple[Tensor, Tensor]:
        """Normalised ``(video_emb, text_emb)`` for a collated batch (picks pooled or sequence inputs)."""
        return (self.encode_video(*self._inputs(self.video_encoder, batch, "video")),
                self.encode_text(*self._inputs(self.text_encoder, batch, "text")))


def build_model(features: PairedFeatures, encoder: str = "mlp", embed_dim: int = 256, hidden_dim: int = 512,
                dropout: float = 0.1, num_heads: int = 4, learn_temperature: bool = False,
                init_temperature: float = 0.03) -> DualEncoder:
    """A :class:`DualEncoder` sized for ``features``.

    ``encoder="mlp"`` projects the pooled features of both modalities; ``encoder="temporal"`` runs a
    :class:`TemporalEncoder` over the video frames, and over the text tokens when the text is ``[N, L, D]``
    (pooled sentence features keep an MLP head).
    """
    return build_model_for_shapes(tuple(features.video.shape[1:]), tuple(features.text.shape[1:]), encoder,
                                  embed_dim, hidden_dim, dropout, num_heads, learn_temperature, init_temperature)


def build_model_for_shapes(video_shape: Sequence[int], text_shape: Sequence[int], encoder: str = "mlp",
                           embed_dim: int = 256, hidden_dim: int = 512, dropout: float = 0.1, num_heads: int = 4,
                           learn_temperature: bool = False, init_temperature: float = 0.03) -> DualEncoder:
    """:func:`build_model` from the per-item feature shapes: ``video_shape`` ``(T, Dv)``, ``text_shape`` ``(Dt,)``
    (pooled) or ``(L, Dt)`` (tokens), as a run's ``model.json`` records them."""
    if encoder not in ENCODERS:
        raise ValueError(f"unknown encoder {encoder!r}; choose one of {', '.join(ENCODERS)}")
    (frames, dv), dt = video_shape, text_shape[-1]
    if encoder == "mlp":
        video_enc = MLPEncoder(dv, embed_dim, hidden_dim, dropout)
        text_enc = MLPEncoder(dt, embed_dim, hidden_dim, dropout)
    else:
        video_enc = TemporalEncoder(dv, embed_dim, hidden_dim, num_heads, max_len=frames, dropout=dropout)
        text_enc = (TemporalEncoder(dt, embed_dim, hidden_dim, num_heads, max_len=text_shape[0], dropout=dropout)
                    if len(text_shape) == 2 else MLPEncoder(dt, embed_dim, hidden_dim, dropout))
    return DualEncoder(video_enc, text_enc, learn_temperature, init_temperature)
