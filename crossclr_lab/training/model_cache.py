"""Train once, reuse: trained models cached on disk, keyed by everything that decides their weights.

The key is a hash of the training settings (:class:`~crossclr_lab.training.trainer.TrainConfig`, with the loss's keyword
arguments completed by its defaults, so ``crossclr`` and ``crossclr`` with its defaults spelled out share a
key), the seed, and fingerprints of the train and validation features. Settings that do not change the weights
(progress bars, device, worker count, checkpoint frequency) are left out. A cached entry holds the best-on-val
``state_dict`` and the run record; it is written atomically and read with ``weights_only=True``.

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
import pickle
import warnings
from dataclasses import asdict
from pathlib import Path

import torch

from crossclr_lab.data.paired import PairedFeatures
from crossclr_lab.data.provenance import fingerprint
from crossclr_lab.files import atomic_torch_save, repo_root
from crossclr_lab.losses import loss_defaults
from crossclr_lab.models import DualEncoder, build_model
from crossclr_lab.training.pretrained import shipped_entry
from crossclr_lab.training.trainer import TrainConfig, Trainer
from crossclr_lab.utils import resolve_device

CACHE_ENV = "CROSSCLR_CACHE"
CACHE_FORMAT = 1
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
    settings = {k: v for k, v in asdict(config).items() if k not in NOT_IN_KEY}
    settings["loss_kwargs"] = {**loss_defaults(config.loss), **config.loss_kwargs}
    settings["loss_kwargs"].pop("check_finite", None)
    fields = {"format": CACHE_FORMAT, "config": settings, "train": fingerprint(train),
              "val": fingerprint(val)}
    text = json.dumps(fields, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24], fields


def cache_path(config: TrainConfig, train: PairedFeatures, val: PairedFeatures | None,
               cache_dir: str | os.PathLike) -> Path:
    """Where the model of this run is (or would be) cached: ``<cache_dir>/<dataset>/<loss>-seed<s>-<key>.pt``."""
    key, _ = cache_key(config, train, val)
    return Path(cache_dir) / train.name / f"{config.loss}-seed{config.seed}-{key}.pt"


def _from_entry(entry: dict, key: str, config: TrainConfig, train: PairedFeatures, where: str):
    """``(model, record)`` from a cache entry whose key matches, else ``None``."""
    if entry.get("key") != key:
        return None
    model = build_model(train, config.encoder, config.embed_dim, config.hidden_dim, config.dropout,
                        learn_temperature=config.learn_temperature)
    model.load_state_dict(entry["model"])          # float16 entries are widened to the parameters' dtype
    return model.to(resolve_device(config.device)), {**json.loads(entry["record"]), "cached": where}


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
    path = cache_path(config, train, val, cache_dir)
    key, fields = cache_key(config, train, val)
    if path.is_file():
        try:
            found = _from_entry(torch.load(path, map_location="cpu", weights_only=True), key, config, train, "cache")
            if found is not None:
                return found
        except (OSError, RuntimeError, KeyError, ValueError, pickle.UnpicklingError) as err:
            warnings.warn(f"cached model {path} is unreadable ({type(err).__name__}: {err}); training it again",
                          stacklevel=2)
    shipped = shipped_entry(path.relative_to(cache_dir).as_posix()) if use_shipped else None
    if shipped is not None and (found := _from_entry(shipped, key, config, train, "shipped")) is not None:
        return found
    trainer = Trainer(config, train, val)
    record = trainer.fit()
    state = {k: (v.half() if half and v.is_floating_point() else v).detach().cpu()
             for k, v in trainer.model.state_dict().items()}
    atomic_torch_save({"key": key, "fields": json.dumps(fields, default=str), "model": state,
                       "record": json.dumps(record, default=str)}, path)
    return trainer.model, {**record, "cached": False}
