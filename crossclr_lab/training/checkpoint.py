"""Checkpoints verified before use, and the run identity that a resume must match.

``checkpoint.pt`` is a torch file holding ``{"format", "sha256", "payload"}``: ``payload`` is a uint8 tensor of the
``torch.save`` bytes of the trainer's state and ``sha256`` their digest. :func:`load_checkpoint` refuses a file that
cannot be read or whose bytes do not match (a flipped bit, a truncated copy), naming it and what to do: a damaged
checkpoint is never loaded and never silently replaced by a fresh start. Everything is read with
``weights_only=True``.

The state holds the run's identity (:func:`run_identity`: resolved configuration, loss settings, data, model
layout, number of processes); a resume whose identity differs is refused with the list of differences
(:func:`differences`), except for the settings in :data:`SAFE_TO_CHANGE`.
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import torch
from torch import nn

from crossclr_lab.files import atomic_write_bytes
from crossclr_lab.training.runs import RunError

FORMAT = "crossclr_lab.checkpoint/1"
# TrainConfig fields a resume may change: they do not change what is computed, only how long or how it is shown
SAFE_TO_CHANGE = {
    "epochs": "train for more epochs (not fewer than already run)",
    "max_steps": "a later step limit (not below the steps already run)",
    "progress": "progress bars",
    "num_workers": "DataLoader worker processes (the batches stay the same)",
    "checkpoint_every": "how often mid-epoch checkpoints are written",
    "device": "where the run continues (CPU or GPU; numbers may differ in the last digits)",
}
MAX_LISTED = 10
_TODO = "restore an intact copy of it, or start the run again from scratch (--overwrite, or another --out)"


class CheckpointError(RunError):
    """A checkpoint cannot be used: unreadable, damaged (checksum mismatch) or not a crossclr_lab checkpoint."""


class ResumeMismatch(RunError):
    """A resume whose configuration, data, model or number of processes differ from the checkpoint's run."""


def save_checkpoint(state: dict, path: str | os.PathLike) -> Path:
    """Write ``state`` (tensors and plain types) to ``path`` atomically, with the sha256 of its bytes."""
    buf = io.BytesIO()
    torch.save(state, buf)
    data = buf.getvalue()
    wrapped = io.BytesIO()
    torch.save({"format": FORMAT, "sha256": hashlib.sha256(data).hexdigest(),
                "payload": torch.frombuffer(bytearray(data), dtype=torch.uint8)}, wrapped)
    return atomic_write_bytes(path, wrapped.getvalue())


def _short(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0][:200] if text else ''}"


def load_checkpoint(path: str | os.PathLike) -> dict:
    """The state saved by :func:`save_checkpoint` at ``path``, after checking its sha256.

    Raises :class:`CheckpointError` naming the file when it cannot be read, is not such a checkpoint, or its bytes
    do not match the checksum saved with it; ``FileNotFoundError`` when it is missing.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        wrapped = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a damaged zip/pickle raises any of a dozen types; all mean the same here
        raise CheckpointError(f"checkpoint {path} cannot be read ({_short(err)}): it is damaged or truncated; "
                              f"{_TODO}") from None
    if not (isinstance(wrapped, dict) and wrapped.get("format") == FORMAT):
        raise CheckpointError(f"{path} is not a checksummed crossclr_lab checkpoint (saved by another program or an "
                              f"older version); {_TODO}")
    payload, digest = wrapped.get("payload"), wrapped.get("sha256")
    if not (isinstance(payload, torch.Tensor) and payload.dtype == torch.uint8 and isinstance(digest, str)):
        raise CheckpointError(f"checkpoint {path} is damaged (its payload or checksum is malformed); {_TODO}")
    data = payload.numpy().tobytes()
    if hashlib.sha256(data).hexdigest() != digest:
        raise CheckpointError(f"checkpoint {path} is damaged: its bytes do not match the sha256 saved with it "
                              f"(a flipped bit or a partial copy); {_TODO}")
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as err:  # intact bytes this torch cannot load (e.g. from a newer version)
        raise CheckpointError(f"checkpoint {path} is intact but cannot be loaded ({_short(err)}); {_TODO}") from None


def run_identity(config: dict, loss_settings: dict, data: dict, model: nn.Module, world_size: int) -> dict:
    """What makes a run this run: ``config`` (a TrainConfig as a dict) without :data:`SAFE_TO_CHANGE`, the loss's
    resolved keyword arguments (its defaults included), ``data`` (per split, from
    :func:`crossclr_lab.data.provenance.describe`), the model's class and tensor shapes, and the number of
    processes."""
    kept = {k: v for k, v in config.items() if k not in SAFE_TO_CHANGE and k != "loss_kwargs"}
    return {"config": kept, "loss_settings": loss_settings, "data": data, "world_size": world_size,
            "model": {"class": type(model).__name__,
                      "tensors": {k: list(v.shape) for k, v in model.state_dict().items()}}}


def _flatten(obj, prefix: str = "") -> dict:
    if isinstance(obj, dict) and obj:
        out = {}
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: obj}


def differences(saved: dict, current: dict) -> list[str]:
    """One line per setting that differs between two :func:`run_identity` dicts, e.g.
    ``"lr: 0.0007 in the checkpoint, 0.001 now"`` (config fields unprefixed; the model's tensors in one line;
    at most :data:`MAX_LISTED` lines)."""
    a, b = _flatten(saved), _flatten(current)
    absent = object()

    def show(value) -> str:
        return "absent" if value is absent else repr(value)

    lines, tensors = [], []
    for key in list(a) + [k for k in b if k not in a]:
        old, new = a.get(key, absent), b.get(key, absent)
        if old == new:
            continue
        line = f"{key.removeprefix('config.')}: {show(old)} in the checkpoint, {show(new)} now"
        (tensors if key.startswith("model.tensors.") else lines).append(line)
    if tensors:
        lines.append(f"model layout: {len(tensors)} tensors differ (e.g. {tensors[0].removeprefix('model.tensors.')})")
    if len(lines) > MAX_LISTED:
        lines = lines[:MAX_LISTED] + [f"and {len(lines) - MAX_LISTED} more"]
    return lines
