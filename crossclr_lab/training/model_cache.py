"""Train once, reuse: trained models cached on disk, keyed by everything that decides their weights.

The key is a hash of the training settings (:class:`~crossclr_lab.training.trainer.TrainConfig`, with the loss's keyword
arguments completed by its defaults, so ``crossclr`` and ``crossclr`` with its defaults spelled out share a
key), the seed, and fingerprints of the train and validation features. Settings that do not change the weights
(progress bars, device, worker count, checkpoint frequency) are left out. A cached entry holds the best-on-val
``state_dict`` and the run record; it is written atomically and read with ``weights_only=True``.

Every entry is written with the sha256 of its bytes (:func:`~crossclr_lab.training.checkpoint.save_checkpoint`)
and carries the cache format and code version that wrote it; all are checked on load. A damaged entry (a flipped
byte, weights edited by hand), a stale one (written by another format or code version: bump :data:`CODE_VERSION`
when a change alters trained weights) or a foreign one (written for another run) is never used: a one-line
warning says which, and the model is trained again.

Where: ``$CROSSCLR_CACHE`` when set, else ``runs/cache`` in the source checkout (``~/.cache/crossclr_lab``
for an installed package). Delete the folder to retrain everything.

Example::

    model, record = fit_cached(TrainConfig(loss="infonce", epochs=12), train, val, default_cache_dir())
    record["cached"]     # True when the model was loaded instead of trained
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from crossclr_lab.checks import check_folder_path
from crossclr_lab.data.paired import PairedFeatures
from crossclr_lab.data.provenance import fingerprint
from crossclr_lab.files import plain_name, repo_root
from crossclr_lab.losses import loss_defaults
from crossclr_lab.models import DualEncoder, build_model
from crossclr_lab.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from crossclr_lab.training.pretrained import shipped_entry
from crossclr_lab.training.trainer import TrainConfig, Trainer
from crossclr_lab.utils import resolve_device

CACHE_ENV = "CROSSCLR_CACHE"
CACHE_FORMAT = 2     # the layout of an entry (2: a checksummed checkpoint holding format, code version, key)
CODE_VERSION = 1     # bump when a change to the trainer, models or losses changes the weights a run trains
NOT_IN_KEY = ("progress", "device", "num_workers", "checkpoint_every")   # do not change the trained weights


def default_cache_dir() -> Path:
    """``$CROSSCLR_CACHE``, else ``runs/cache`` of the source checkout, else ``~/.cache/crossclr_lab``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    repo = repo_root()
    if repo is not None:
        return repo / "runs" / "cache"
    return Path.home() / ".cache" / "crossclr_lab"


def cache_key(config: TrainConfig, train: PairedFeatures, val: PairedFeatures | None) -> tuple[str, dict]:
    """``(key, fields)``: the hex key of a training run and the fields it hashes (stored beside the weights)."""
    return key_of(config, fingerprint(train), fingerprint(val))


def key_of(config: TrainConfig, train_print: str, val_print: str) -> tuple[str, dict]:
    """:func:`cache_key` from the data's :func:`~crossclr_lab.data.provenance.fingerprint` strings (for many runs
    on the same data: each dataset hashed once)."""
    settings = {k: v for k, v in asdict(config).items() if k not in NOT_IN_KEY}
    settings["loss_kwargs"] = {**loss_defaults(config.loss), **config.loss_kwargs}
    settings["loss_kwargs"].pop("check_finite", None)
    fields = {"config": settings, "train": train_print, "val": val_print}
    text = json.dumps(fields, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24], fields


def dataset_folder(name: str) -> str:
    """The folder a dataset's cached models and shipped runs go in: its name, or for a dataset derived from another
    (a view pair, ``"emoji_motion:appearance↔text"``) the name of the one it comes from. Keys, which hold every
    split's fingerprint, keep the runs in one folder apart."""
    return plain_name(name.split(":", 1)[0], "dataset name")


def cache_path(config: TrainConfig, train: PairedFeatures, val: PairedFeatures | None,
               cache_dir: str | os.PathLike, key: str | None = None) -> Path:
    """Where the model of this run is (or would be) cached: ``<cache_dir>/<dataset folder>/<loss>-seed<s>-<key>.pt``
    (``key``: this run's :func:`cache_key`, when already computed)."""
    key = key or cache_key(config, train, val)[0]
    name = f"{plain_name(config.loss, 'loss name')}-seed{config.seed}-{key}.pt"
    return Path(cache_dir) / dataset_folder(train.name) / name


def make_entry(key: str, fields: dict, state: dict, record: dict) -> dict:
    """A cache entry (what :func:`fit_cached` writes, through :func:`~crossclr_lab.training.checkpoint.save_checkpoint`
    with the sha256 of its bytes): ``state`` (CPU tensors) with its record, key, format and code version."""
    return {"format": CACHE_FORMAT, "code": CODE_VERSION, "key": key, "fields": json.dumps(fields, default=str),
            "model": state, "record": json.dumps(record, default=str)}


def entry_problem(entry: Any, key: str) -> str | None:
    """Why a cache entry (its bytes already checked against their sha256) must not be used for the run with
    ``key``: not an entry, stale (another format or code version) or foreign (another run's); else ``None``."""
    if (not isinstance(entry, dict) or not isinstance(entry.get("model"), dict)
            or not all(torch.is_tensor(v) for v in entry["model"].values())):
        return "damaged (not a model cache entry)"
    if entry.get("format") != CACHE_FORMAT:
        return f"stale (cache format {entry.get('format')!r}; this version of the kit reads {CACHE_FORMAT})"
    if entry.get("code") != CODE_VERSION:
        return f"stale (written by code version {entry.get('code')!r}; this is {CODE_VERSION})"
    if entry.get("key") != key:
        return "foreign (written for other settings or data than this run's)"
    return None


def _from_entry(entry: dict, config: TrainConfig, train: PairedFeatures, where: str):
    """``(model, record)`` from a checked cache entry."""
    model = build_model(train, config.encoder, config.embed_dim, config.hidden_dim, config.dropout,
                        learn_temperature=config.learn_temperature)
    model.load_state_dict(entry["model"])          # float16 entries are widened to the parameters' dtype
    return model.to(resolve_device(config.device)), {**json.loads(entry["record"]), "cached": where}


def _use(entry: Any, key: str, config: TrainConfig, train: PairedFeatures, where: str, what: str):
    """``(model, record)`` from ``entry`` when it is sound and this run's, else ``None`` after a one-line
    warning saying why (the caller trains instead)."""
    problem = entry_problem(entry, key)
    if problem is None:
        try:
            return _from_entry(entry, config, train, where)
        except (RuntimeError, KeyError, ValueError, json.JSONDecodeError) as err:
            problem = f"unusable ({type(err).__name__}: {str(err).splitlines()[0]})"
    warnings.warn(f"{what} is {problem}; not used, training the model again", stacklevel=3)
    return None


def fit_cached(config: TrainConfig, train: PairedFeatures, val: PairedFeatures | None,
               cache_dir: str | os.PathLike | None, half: bool = False,
               use_shipped: bool = True) -> tuple[DualEncoder, dict]:
    """The trained ``(model, record)`` of this run: loaded from ``cache_dir`` when cached, else from the small
    checkpoints the kit ships (:mod:`crossclr_lab.training.pretrained`, checksum-verified; not with
    ``use_shipped=False``,
    which rebuilding them needs), else trained with
    :class:`~crossclr_lab.training.trainer.Trainer` and cached (``half``: the weights stored in float16).
    ``record["cached"]`` says which (``False``, ``"cache"`` or ``"shipped"``); ``cache_dir=None`` always trains
    and caches nothing."""
    if cache_dir is None:
        trainer = Trainer(config, train, val)
        return trainer.model, {**trainer.fit(), "cached": False}
    check_folder_path("cache_dir", cache_dir)
    key, fields = cache_key(config, train, val)
    path = cache_path(config, train, val, cache_dir, key)
    if path.is_file():
        try:
            entry = load_checkpoint(path)              # its bytes checked against their sha256
        except CheckpointError as err:
            warnings.warn(f"model cache: {str(err).split('; ')[0]}; not used, training the model again", stacklevel=2)
        else:
            if (found := _use(entry, key, config, train, "cache", f"cached model {path}")) is not None:
                return found
    relative = path.relative_to(cache_dir).as_posix()
    shipped = shipped_entry(relative) if use_shipped else None
    if shipped is not None and (found := _use(shipped, key, config, train, "shipped",
                                              f"shipped model {relative}")) is not None:
        return found
    trainer = Trainer(config, train, val)
    record = trainer.fit()
    state = {k: (v.half() if half and v.is_floating_point() else v).detach().cpu()
             for k, v in trainer.model.state_dict().items()}
    save_checkpoint(make_entry(key, fields, state, record), path)
    return trainer.model, {**record, "cached": False}
