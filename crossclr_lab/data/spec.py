"""What the registry knows of a dataset: one :class:`DatasetSpec` per dataset module, named ``DATASET`` there.

A spec owns the dataset's loader, its splits, the settings (loader keyword arguments) it accepts, where its data
lives by default (for provenance), and the data card's hooks. Adding a dataset is one module defining
``DATASET = DatasetSpec(...)`` plus its name in :data:`crossclr_lab.data.registry.MODULES`.
"""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from torch import Tensor

from .paired import PairedFeatures

EVAL_SPLITS = ("train", "val", "test")   # the splits a comparison trains, selects and evaluates on
ROOT_KINDS = ("optional", "required", "none")


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset the kit loads by name.

    ``load(split, data_root, **settings)`` -> :class:`PairedFeatures`; ``splits(data_root)`` -> split names;
    ``loader``: the public function whose keyword arguments are the accepted ``settings`` (its defaults are
    recorded in provenance; ``cli_settings``: those the ``crossclr-lab`` flags may set); ``root``: whether
    ``data_root`` is ``"optional"`` (``default_root()`` is used),
    ``"required"`` (``root_hint`` says what to pass) or ``"none"`` (generated data). Hooks for the data card:
    ``card(data_root)`` -> lines, ``views(data_root, **settings)`` -> name -> pooled train features ``[N, D]``;
    for captioning, ``references(features, data_root)`` -> reference captions per clip.
    """

    name: str
    description: str
    load: Callable[..., PairedFeatures]
    splits: Callable[[str | os.PathLike | None], tuple[str, ...]]
    loader: Callable
    root: str = "optional"
    root_hint: str = ""
    split_hint: str = ""
    default_root: Callable[[], Path] | None = None
    not_settings: tuple[str, ...] = ("split", "root", "data_root")
    cli_settings: tuple[str, ...] = ()
    card: Callable[[str | os.PathLike | None], list[str]] | None = None
    views: Callable[..., dict[str, Tensor]] | None = None
    references: Callable[[PairedFeatures, str | os.PathLike | None], list[list[str]]] | None = None

    def __post_init__(self):
        if self.root not in ROOT_KINDS:
            raise ValueError(f"root must be one of {ROOT_KINDS}, got {self.root!r}")

    @property
    def defaults(self) -> dict:
        """Every accepted setting with its default (``inspect.Parameter.empty`` when it has none)."""
        params = inspect.signature(self.loader).parameters
        return {k: p.default for k, p in params.items() if k not in self.not_settings}

    @property
    def settings(self) -> tuple[str, ...]:
        """The names of the keyword arguments :meth:`load` accepts."""
        return tuple(self.defaults)
