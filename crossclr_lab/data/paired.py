"""One container for paired video–text features, a Dataset over it and its collate function."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset


@dataclass
class PairedFeatures:
    """N paired (video, text) items as feature tensors.

    Attributes:
        video: ``[N, T, Dv]`` float frame features, zero-padded past ``video_lengths``.
        video_lengths: ``[N]`` long, number of valid frames (>= 1).
        text: ``[N, Dt]`` pooled sentence features, or ``[N, L, Dt]`` token features.
        text_lengths: ``[N]`` long valid tokens when ``text`` is 3-d, else ``None``.
        video_pooled: ``[N, Dv]`` masked mean of ``video`` over time (CrossCLR's input features).
        text_pooled: ``[N, Dt]`` pooled text features (CrossCLR's input features).
        captions: N caption strings.
        ids: N item identifiers.
        groups: name -> N labels (e.g. ``concept``), for semantic retrieval and colouring.
        name: dataset name, for records and plots.
        thumbnail_fn: ``i -> PIL.Image`` or ``None`` when the dataset has no pictures.
        source: where the items came from (set by ``load_dataset``; see :mod:`crossclr_lab.data.provenance`).
    """

    video: Tensor
    video_lengths: Tensor
    text: Tensor
    captions: list[str]
    ids: list[str]
    groups: dict[str, list] = field(default_factory=dict)
    text_lengths: Tensor | None = None
    video_pooled: Tensor | None = None
    text_pooled: Tensor | None = None
    name: str = "paired"
    thumbnail_fn: Callable[[int], object] | None = field(default=None, repr=False)
    source: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        n = self.video.shape[0]
        if self.video.dim() != 3:
            raise ValueError(f"video must be [N, T, D], got shape {tuple(self.video.shape)}")
        if self.text.dim() not in (2, 3):
            raise ValueError(f"text must be [N, D] or [N, L, D], got shape {tuple(self.text.shape)}")
        sizes = {"video": n, "video_lengths": len(self.video_lengths), "text": self.text.shape[0],
                 "captions": len(self.captions), "ids": len(self.ids)}
        sizes.update({f"groups[{k!r}]": len(v) for k, v in self.groups.items()})
        if len(set(sizes.values())) != 1:
            raise ValueError(f"all fields must describe the same N items, got sizes {sizes}")
        if self.text.dim() == 3 and self.text_lengths is None:
            self.text_lengths = torch.full((n,), self.text.shape[1], dtype=torch.long)
        if self.video_pooled is None:
            self.video_pooled = masked_mean(self.video.float(), self.video_lengths)
        if self.text_pooled is None:
            self.text_pooled = (self.text.float() if self.text.dim() == 2
                                else masked_mean(self.text.float(), self.text_lengths))

    def __len__(self) -> int:
        return self.video.shape[0]

    def default_group(self) -> str | None:
        """The groups key semantic metrics use by default: ``"concept"`` when present, else the first key
        (``None`` when the dataset has no groups)."""
        if "concept" in self.groups:
            return "concept"
        return next(iter(sorted(self.groups)), None)

    def __repr__(self) -> str:
        text = "x".join(map(str, self.text.shape))
        return (f"PairedFeatures(name={self.name!r}, N={len(self)}, video={'x'.join(map(str, self.video.shape))}, "
                f"text={text}, groups={sorted(self.groups)}, thumbnails={self.thumbnail_fn is not None})")

    def subset(self, index) -> "PairedFeatures":
        """A new container with the items at ``index`` (a sequence of ints or a bool/long tensor)."""
        idx = torch.as_tensor(index)
        if idx.dtype == torch.bool:
            idx = idx.nonzero().squeeze(1)
        rows = idx.tolist()
        parent_thumb = self.thumbnail_fn
        return PairedFeatures(
            video=self.video[idx], video_lengths=self.video_lengths[idx], text=self.text[idx],
            text_lengths=None if self.text_lengths is None else self.text_lengths[idx],
            video_pooled=self.video_pooled[idx], text_pooled=self.text_pooled[idx],
            captions=[self.captions[i] for i in rows], ids=[self.ids[i] for i in rows],
            groups={k: [v[i] for i in rows] for k, v in self.groups.items()}, name=self.name,
            thumbnail_fn=None if parent_thumb is None else (lambda j: parent_thumb(rows[j])), source=dict(self.source),
        )

    def shuffled_pairs(self, seed: int = 0) -> "PairedFeatures":
        """Chance-level control: the texts (and captions) permuted against the videos."""
        perm = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))
        out = self.subset(torch.arange(len(self)))
        out.text = self.text[perm]
        out.text_pooled = self.text_pooled[perm]
        out.text_lengths = None if self.text_lengths is None else self.text_lengths[perm]
        out.captions = [self.captions[i] for i in perm.tolist()]
        out.source["shuffled_pairs_seed"] = seed
        return out

    def thumbnail(self, i: int, strict: bool = True):
        """A PIL image for item ``i``. Raises ``ValueError`` when there is none (the dataset ships no
        thumbnails, or none for this item), or returns ``None`` then with ``strict=False``."""
        try:
            if self.thumbnail_fn is None:
                raise ValueError(f"dataset {self.name!r} has no thumbnails")
            return self.thumbnail_fn(i)
        except ValueError:
            if strict:
                raise
            return None


def group_codes(labels: Sequence) -> np.ndarray:
    """Integer codes ``[N]`` for group labels (equal labels, equal codes; codes follow the sorted labels).

    Labels must be of one type: ``1`` and ``"1"`` are different labels, so a mix is an error rather than
    being merged through their text.
    """
    kinds = {type(label) for label in labels}
    if len(kinds) > 1:
        raise ValueError(f"group labels mix types {sorted(k.__name__ for k in kinds)}; convert them to one type")
    if not len(labels):
        return np.zeros(0, dtype=np.int64)
    _, codes = np.unique(np.asarray(list(labels)), return_inverse=True)
    return codes.reshape(-1).astype(np.int64)


def random_batches(n: int, batch_size: int, seed: int = 0) -> list[np.ndarray]:
    """The index sets of one shuffled epoch in full batches of ``batch_size`` (the last partial one dropped)."""
    if not 2 <= batch_size <= n:
        raise ValueError(f"batch_size must be in [2, {n}] for {n} items, got {batch_size}")
    order = np.random.default_rng(seed).permutation(n)
    return [order[i:i + batch_size] for i in range(0, n - batch_size + 1, batch_size)]


def masked_mean(x: Tensor, lengths: Tensor) -> Tensor:
    """Mean of ``x [N, T, D]`` over the first ``lengths [N]`` steps -> ``[N, D]``."""
    mask = torch.arange(x.shape[1], device=x.device)[None, :] < lengths.to(x.device)[:, None]
    mask = mask.to(x.dtype).unsqueeze(-1)
    if bool(mask.all()):   # every step valid: x * 1 is x, so skip the [N, T, D] product (same bits)
        return x.sum(1) / mask.sum(1).clamp_min(1.0)
    return (x * mask).sum(1) / mask.sum(1).clamp_min(1.0)


class PairedDataset(Dataset):
    """``torch.utils.data.Dataset`` over a :class:`PairedFeatures`; items are dicts of tensors.

    ``fields`` keeps only those keys of each item (e.g. ``("video_pooled", "text_pooled")`` for MLP encoders,
    which never read the frames); default: all. A ``DataLoader`` fetches a whole batch at once through
    :meth:`__getitems__` (one tensor indexing per field instead of stacking items).
    """

    FIELDS = ("index", "video", "video_length", "text", "text_length", "video_pooled", "text_pooled")

    def __init__(self, features: PairedFeatures, fields: Sequence[str] | None = None):
        unknown = sorted(set(fields or ()) - set(self.FIELDS))
        if unknown:
            raise ValueError(f"unknown PairedDataset fields {unknown}; choose from {', '.join(self.FIELDS)}")
        self.features = features
        self.fields = tuple(k for k in self.FIELDS if fields is None or k in fields)

    def __len__(self) -> int:
        return len(self.features)

    def _columns(self) -> dict:
        f = self.features
        columns = {"index": None, "video": f.video, "video_length": f.video_lengths, "text": f.text,
                   "text_length": f.text_lengths, "video_pooled": f.video_pooled, "text_pooled": f.text_pooled}
        return {k: columns[k] for k in self.fields if k == "index" or columns[k] is not None}

    def __getitem__(self, i: int) -> dict:
        return {k: i if k == "index" else column[i] for k, column in self._columns().items()}

    def __getitems__(self, indices: list[int]) -> dict:
        """The batch of ``indices`` as :func:`collate_paired` would stack it (``video [B, T, D]`` ...)."""
        index = torch.as_tensor(indices, dtype=torch.long)
        return {k: index if k == "index" else column[index] for k, column in self._columns().items()}


def collate_paired(items: list[dict] | dict) -> dict:
    """Stack a list of :class:`PairedDataset` items into a batch dict (``video [B, T, D]`` ...); a batch already
    gathered by :meth:`PairedDataset.__getitems__` passes through."""
    if isinstance(items, dict):
        return items
    return {key: torch.stack([torch.as_tensor(it[key]) for it in items]) for key in items[0]}
