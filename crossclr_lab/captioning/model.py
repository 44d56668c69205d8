"""Captioning from frozen clip embeddings: word vocabulary, small GRU decoder, teacher forcing, greedy decoding.

This is the paper's second use of a joint space (CrossCLR's captioning results: MART fed with the learned clip
embeddings), scaled down to a CPU experiment of seconds per captioner: the decoder sees one frozen vector per
clip ``[N, D]`` — a dual encoder's video embedding or the raw pooled input features — and learns to write the
clip's caption. Whatever the caption needs and the vector lacks, the decoder cannot invent.

**Vocabulary.** Words of the *training* captions, split by :func:`crossclr_lab.captioning.metrics.tokenize` (the
tokenizer the scores use, so a generated word is scored as written). Every training word is kept
(``min_count=1``): the captions are short CLDR names and keywords, a word dropped to ``<unk>`` could never be
generated, and the output layer stays small (about 1,500 words on Emoji Motion's concept split). A word-level
vocabulary rather than sub-words: the metrics count words, and sub-words could only spell new names the model
has no evidence for. Words only found in val or test captions map to ``<unk>``; a held-out concept's new name
cannot be produced — a limit of any closed-vocabulary captioner, shown honestly by the scores.

**Decoder.** The input vector is standardised with the training set's per-dimension mean and std (so raw
features and unit-norm embeddings start on one scale), projected to the GRU's initial state and also fed at
every step beside the previous word's embedding. Training: teacher forcing, token cross-entropy with label
smoothing, AdamW with gradient clipping; with validation clips, the epoch whose greedy captions score the highest
validation CIDEr-D is kept. Decoding: greedy, up to ``max_len`` words.

Example::

    captioner, record = train_captioner(train_emb, train.captions, val_emb, clip_references(val))
    captioner.caption(test_emb[:3])      # ['woman medium skin tone ...', ...]
"""

from __future__ import annotations

import copy
import time
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from crossclr_lab.captioning.metrics import cider_d, tokenize
from crossclr_lab.checks import check_int, check_number, check_positive
from crossclr_lab.utils import resolve_device, seed_everything

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)


class Vocabulary:
    """Word <-> id map; ids 0-3 are ``<pad>``, ``<bos>``, ``<eos>``, ``<unk>``.

    Example::

        vocab = Vocabulary.build(["a cat", "a dog"])
        vocab.encode("a cow")        # [1, 4, 3, 2]: <bos> a <unk> <eos>
        vocab.decode([4, 5, 2, 6])   # 'a cat' (stops at <eos>)
    """

    def __init__(self, words: Sequence[str]):
        words = list(words)
        if words[:len(SPECIALS)] != list(SPECIALS):
            raise ValueError(f"a vocabulary starts with the special tokens {SPECIALS}")
        if len(set(words)) != len(words):
            raise ValueError("vocabulary words must be unique")
        self.words = words
        self.index = {w: i for i, w in enumerate(words)}
        self.pad, self.bos, self.eos, self.unk = (self.index[s] for s in SPECIALS)

    @classmethod
    def build(cls, captions: Sequence[str], min_count: int = 1) -> "Vocabulary":
        """Every word seen at least ``min_count`` times in ``captions``, most frequent first (ties alphabetical)."""
        check_int("min_count", min_count, 1)
        counts = Counter(w for c in captions for w in tokenize(c))
        if not counts:
            raise ValueError("no words in the captions: cannot build a vocabulary")
        kept = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
        return cls([*SPECIALS, *kept])

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, caption: str) -> list[int]:
        """``[<bos>, words..., <eos>]`` ids; unknown words become ``<unk>``."""
        return [self.bos, *(self.index.get(w, self.unk) for w in tokenize(caption)), self.eos]

    def decode(self, ids: Sequence[int]) -> str:
        """Words up to the first ``<eos>``, joined by spaces (``<bos>``/``<pad>`` skipped, ``<unk>`` kept)."""
        words = []
        for i in ids:
            if i == self.eos:
                break
            if i not in (self.bos, self.pad):
                words.append(self.words[i])
        return " ".join(words)


@dataclass
class CaptionerConfig:
    """Decoder size and training settings (defaults: about 15 s per captioner on Emoji Motion, one CPU thread)."""

    word_dim: int = 64
    hidden_dim: int = 128
    num_layers: int = 1
    dropout: float = 0.3
    label_smoothing: float = 0.1
    epochs: int = 10
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-4
    grad_clip: float = 1.0
    max_len: int | None = None    # longest generated caption in words; None: the longest training caption + 2
    device: str = "auto"
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("word_dim", "hidden_dim", "num_layers", "epochs", "batch_size"):
            check_int(name, getattr(self, name), 1)
        for name in ("dropout", "label_smoothing"):
            check_number(name, getattr(self, name), minimum=0, below=1)
        check_positive("lr", self.lr)
        check_number("weight_decay", self.weight_decay, minimum=0)
        check_positive("grad_clip", self.grad_clip)
        if self.max_len is not None:
            check_int("max_len", self.max_len, 1, hint="or None: the longest training caption + 2")


class CaptionDecoder(nn.Module):
    """GRU language model conditioned on one vector per clip.

    ``forward(cond [B, D], tokens [B, L])`` -> logits ``[B, L, V]`` for the next word at each position
    (teacher forcing: ``tokens`` starts with ``<bos>``). ``cond`` is standardised with the buffers
    ``cond_mean``/``cond_std`` ``[D]`` (set from training data by :func:`train_captioner`).
    """

    def __init__(self, cond_dim: int, vocab_size: int, word_dim: int = 64, hidden_dim: int = 128,
                 num_layers: int = 1, dropout: float = 0.3, pad_id: int = 0):
        super().__init__()
        self.num_layers = num_layers
        self.register_buffer("cond_mean", torch.zeros(cond_dim))
        self.register_buffer("cond_std", torch.ones(cond_dim))
        self.cond_proj = nn.Sequential(nn.Linear(cond_dim, hidden_dim), nn.Tanh())
        self.init_state = nn.Linear(hidden_dim, num_layers * hidden_dim)
        self.embed = nn.Embedding(vocab_size, word_dim, padding_idx=pad_id)
        self.dropout = nn.Dropout(dropout)
        self.gru = nn.GRU(word_dim + hidden_dim, hidden_dim, num_layers, batch_first=True,
                          dropout=dropout if num_layers > 1 else 0.0)
        self.out = nn.Linear(hidden_dim, vocab_size)

    def condition(self, cond: Tensor) -> tuple[Tensor, Tensor]:
        """``(c [B, H], h0 [layers, B, H])`` from the clip vectors ``[B, D]``."""
        if cond.dim() != 2 or cond.shape[1] != self.cond_mean.shape[0]:
            raise ValueError(f"expected clip vectors [B, {self.cond_mean.shape[0]}], got {tuple(cond.shape)}")
        c = self.dropout(self.cond_proj((cond - self.cond_mean) / self.cond_std))
        h0 = torch.tanh(self.init_state(c)).view(c.shape[0], self.num_layers, -1).transpose(0, 1).contiguous()
        return c, h0

    def step(self, c: Tensor, tokens: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        """Logits ``[B, L, V]`` and the new state for ``tokens [B, L]`` given the condition and state."""
        words = self.dropout(self.embed(tokens))
        h, state = self.gru(torch.cat([words, c[:, None].expand(-1, tokens.shape[1], -1)], dim=-1), state)
        return self.out(self.dropout(h)), state

    def forward(self, cond: Tensor, tokens: Tensor) -> Tensor:
        c, h0 = self.condition(cond)
        return self.step(c, tokens, h0)[0]

    @torch.no_grad()
    def greedy(self, cond: Tensor, bos: int, eos: int, max_len: int) -> Tensor:
        """Greedy decoding: ``[B, <= max_len]`` word ids (after ``<eos>`` a row repeats ``<eos>``)."""
        c, state = self.condition(cond)
        token = torch.full((cond.shape[0], 1), bos, dtype=torch.long, device=cond.device)
        done = torch.zeros(cond.shape[0], dtype=torch.bool, device=cond.device)
        out = []
        for _ in range(max_len):
            logits, state = self.step(c, token, state)
            token = logits[:, -1].argmax(-1, keepdim=True)
            token[done] = eos
            out.append(token)
            done |= token.squeeze(1) == eos
            if done.all():
                break
        return torch.cat(out, dim=1)


@dataclass
class Captioner:
    """A trained decoder with its vocabulary; :meth:`caption` turns clip vectors ``[N, D]`` into N strings."""

    decoder: CaptionDecoder
    vocab: Vocabulary
    max_len: int

    def caption(self, cond: Tensor, batch_size: int = 512) -> list[str]:
        """Greedy captions for the clip vectors ``cond [N, D]``."""
        device = next(self.decoder.parameters()).device
        was_training = self.decoder.training
        self.decoder.eval()
        captions = []
        for start in range(0, cond.shape[0], batch_size):
            ids = self.decoder.greedy(cond[start:start + batch_size].to(device).float(), self.vocab.bos,
                                      self.vocab.eos, self.max_len)
            captions += [self.vocab.decode(row) for row in ids.tolist()]
        self.decoder.train(was_training)
        return captions


def _padded(vocab: Vocabulary, captions: Sequence[str]) -> Tensor:
    """``[N, L_max]`` ids of ``<bos> words <eos>``, padded with ``<pad>``."""
    encoded = [vocab.encode(c) for c in captions]
    out = torch.full((len(encoded), max(map(len, encoded))), vocab.pad, dtype=torch.long)
    for i, ids in enumerate(encoded):
        out[i, :len(ids)] = torch.tensor(ids)
    return out


def _check_pairs(cond: Tensor, captions: Sequence[str], what: str) -> None:
    if not torch.is_tensor(cond) or cond.dim() != 2:
        raise ValueError(f"{what} clip vectors must be a [N, D] tensor, got {getattr(cond, 'shape', type(cond))}")
    if cond.shape[0] != len(captions) or not len(captions):
        raise ValueError(f"{what}: need one caption per clip vector, got {cond.shape[0]} vectors and "
                         f"{len(captions)} captions")
    if not torch.isfinite(cond).all():
        raise ValueError(f"{what} clip vectors contain NaN or inf")


def token_loss(decoder: CaptionDecoder, cond: Tensor, tokens: Tensor, pad: int, label_smoothing: float = 0.0) -> Tensor:
    """Mean next-word cross-entropy over the non-pad targets (``tokens [B, L]`` start with ``<bos>``)."""
    logits = decoder(cond, tokens[:, :-1])
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1), ignore_index=pad,
                           label_smoothing=label_smoothing)


def train_captioner(train_cond: Tensor, train_captions: Sequence[str], val_cond: Tensor | None = None,
                    val_references: Sequence[Sequence[str]] | None = None, config: CaptionerConfig | None = None,
                    vocab: Vocabulary | None = None) -> tuple[Captioner, dict]:
    """Train a :class:`CaptionDecoder` on ``(train_cond [N, D], train_captions)`` with teacher forcing.

    With validation clips (``val_cond [M, D]`` and their ``val_references``, lists of reference captions) the
    weights of the epoch whose greedy captions score the highest validation CIDEr-D are kept (the usual
    selection for captioners; CIDEr-D needs no Java); without, the last epoch's. Returns the
    :class:`Captioner` (on the configured device, in eval mode) and a record: config, vocabulary size,
    per-epoch train loss (and val CIDEr-D), best epoch, wall time.
    """
    config = config or CaptionerConfig()
    _check_pairs(train_cond, train_captions, "train")
    if (val_cond is None) != (val_references is None):
        raise ValueError("give both val_cond and val_references, or neither")
    if val_cond is not None:
        _check_pairs(val_cond, val_references, "val")
        if val_cond.shape[1] != train_cond.shape[1]:
            raise ValueError(f"val clip vectors have {val_cond.shape[1]} dims, train {train_cond.shape[1]}")
    start = time.perf_counter()
    device = resolve_device(config.device)
    seed_everything(config.seed)
    vocab = vocab or Vocabulary.build(train_captions)
    tokens = _padded(vocab, train_captions).to(device)
    cond = train_cond.float().to(device)
    decoder = CaptionDecoder(cond.shape[1], len(vocab), config.word_dim, config.hidden_dim, config.num_layers,
                             config.dropout, vocab.pad).to(device)
    decoder.cond_mean.copy_(cond.mean(0))
    if len(cond) > 1:
        decoder.cond_std.copy_(cond.std(0, unbiased=False).clamp_min(1e-6))
    max_len = config.max_len or max(len(tokenize(c)) for c in train_captions) + 2
    captioner = Captioner(decoder, vocab, max_len)
    optimizer = torch.optim.AdamW(decoder.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    generator = torch.Generator().manual_seed(config.seed)
    history, best = [], None
    for epoch in range(1, config.epochs + 1):
        decoder.train()
        order = torch.randperm(len(cond), generator=generator).to(device)
        total = 0.0
        for i in range(0, len(order), config.batch_size):
            idx = order[i:i + config.batch_size]
            batch = tokens[idx]
            batch = batch[:, :int((batch != vocab.pad).sum(1).max())]  # drop the columns that are all padding
            loss = token_loss(decoder, cond[idx], batch, vocab.pad, config.label_smoothing)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"training loss is {loss.item()} in epoch {epoch}; lower the lr")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(decoder.parameters(), config.grad_clip)
            optimizer.step()
            total += loss.item() * len(idx)
        entry = {"epoch": epoch, "train_loss": total / len(order)}
        if val_cond is not None:
            entry["val_cider_d"] = cider_d(captioner.caption(val_cond), val_references)
            if best is None or entry["val_cider_d"] > best["val_cider_d"]:
                best = {"epoch": epoch, "val_cider_d": entry["val_cider_d"],
                        "state": copy.deepcopy(decoder.state_dict())}
        history.append(entry)
    if best is not None:
        decoder.load_state_dict(best["state"])
    decoder.eval()
    record = {"config": asdict(config), "vocab_size": len(vocab), "cond_dim": cond.shape[1], "max_len": max_len,
              "history": history, "best_epoch": best["epoch"] if best else config.epochs,
              "wall_time_s": time.perf_counter() - start}
    return captioner, record


def most_frequent_caption(captions: Sequence[str]) -> str:
    """The trivial captioner's one answer: the most frequent caption; among ties (on Emoji Motion every training
    caption is unique), the one whose words are most common in ``captions`` on average, then the first
    alphabetically — a "typical" caption without looking at any clip."""
    if not captions:
        raise ValueError("need at least one caption")
    counts = Counter(captions)
    top = max(counts.values())
    doc_freq = Counter(w for c in counts for w in set(tokenize(c)))

    def typicality(caption: str) -> float:
        words = tokenize(caption)
        return sum(doc_freq[w] for w in words) / len(words) if words else 0.0

    return min((c for c, k in counts.items() if k == top), key=lambda c: (-typicality(c), c))


def clip_references(features, root=None) -> list[list[str]]:
    """Reference captions per clip of ``features`` (a :class:`~crossclr_lab.data.PairedFeatures`).

    Every clip's own caption comes first. For Emoji Motion, its alternative CLDR-based captions follow, from the
    dataset's metadata: the CLDR name alone (``caption_label``, e.g. "woman firefighter: medium-dark skin
    tone") and the shortcodes (``caption_shortcodes``, e.g. "woman firefighter tone4"); duplicates (after
    tokenization) are dropped. The keyword list is not a reference of its own: it is already part of the
    caption (``label — keywords``). Other datasets have one caption per clip, hence one reference.
    """
    from crossclr_lab.data.registry import DATASETS

    refs = [[c] for c in features.captions]
    spec = DATASETS.get(features.name)
    if spec is not None and spec.references is not None:
        for clip_refs, alternatives in zip(refs, spec.references(features, root)):
            seen = {tuple(tokenize(clip_refs[0]))}
            for alt in alternatives:
                if tokenize(alt) and tuple(tokenize(alt)) not in seen:
                    seen.add(tuple(tokenize(alt)))
                    clip_refs.append(alt)
    return refs
