"""Reuse a trained model: plain weights and a config beside every run, and one call to load a run or a shipped model.

Every finished run folder (:class:`~crossclr_lab.training.trainer.Trainer` with ``out_dir``: ``crossclr-lab train``,
each seed of ``compare``) holds ``model.safetensors`` (the selected weights, float32, readable by any safetensors
tool) and ``model.json`` (how to build the model, the loss it was trained with and the input features it expects:
dataset, split, loader settings, feature shapes, fingerprint). The kit's shipped models (``data/pretrained/``) come as
the same pair, checked against that folder's manifest.

Example::

    from crossclr_lab import load_run, load_pretrained
    reused = load_run("runs/my_run")            # or load_pretrained("crossclr")
    reused.model                                # a DualEncoder in eval mode
    reused.inputs                               # {"dataset": "emoji_motion", "video_shape": [16, 1296], ...}
    test = reused.dataset("test")               # its dataset, loaded with the settings it was trained on
    video_emb, text_emb = reused.embed(test)    # [N, D] each, unit norm
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from crossclr_lab.files import atomic_write_bytes, atomic_write_json, read_manifest, sha256_file
from crossclr_lab.models import DualEncoder, build_model_for_shapes

FORMAT = "crossclr_lab.model/1"
WEIGHTS, CONFIG = "model.safetensors", "model.json"
ARCHITECTURE = ("encoder", "embed_dim", "hidden_dim", "dropout", "learn_temperature")   # TrainConfig fields
NOT_SETTINGS = {"dataset", "split", "data_root", "manifest_sha256", "n", "video_shape", "text_shape", "fingerprint"}


@dataclass
class Reusable:
    """A trained model ready to use, with what it expects: ``config`` is its ``model.json`` (``inputs``: the
    provenance of its training data, ``architecture``, ``loss``, ``loss_kwargs``, ``record``: where it came from)."""

    model: DualEncoder
    config: dict
    path: Path

    @property
    def inputs(self) -> dict:
        """The training data's description: dataset, split, data root, loader settings, feature shapes."""
        return self.config["inputs"]

    def settings(self) -> dict:
        """The loader settings the training data was loaded with (e.g. ``split_kind``, ``video_features``)."""
        out = {}
        for key, value in self.inputs.items():
            if key in NOT_SETTINGS or value is None:
                continue
            if isinstance(value, str) and value[:1] in "([{":   # provenance stores tuples and lists as their repr
                try:
                    value = ast.literal_eval(value)
                except (ValueError, SyntaxError):
                    pass
            out[key] = value
        return out

    def dataset(self, split: str = "test", data_root: str | os.PathLike | None = None):
        """Split ``split`` of the dataset the model was trained on, loaded with the same settings (``data_root``:
        where that data is now, default the recorded one); its feature shapes are checked."""
        from crossclr_lab.data import load_dataset

        name = self.inputs["dataset"]
        root = data_root if data_root is not None else self.inputs.get("data_root")
        if name == "emoji_motion" and data_root is None:
            root = None   # the shipped copy wherever this checkout is
        features = load_dataset(name, split, root, **self.settings())
        self.check(features)
        return features

    def check(self, features) -> None:
        """``ValueError`` unless ``features`` have the per-item shapes the model was trained on."""
        want = (self.inputs["video_shape"][-1], self.inputs["text_shape"][-1])
        have = (features.video.shape[-1], features.text.shape[-1])
        if want != have:
            raise ValueError(f"{self.path}: the model takes {want[0]}-d video and {want[1]}-d text features, but "
                             f"{features.name!r} has {have[0]}-d and {have[1]}-d: use the features it was trained "
                             f"on ({self.inputs['dataset']}, settings {self.settings()})")

    def embed(self, features) -> tuple[torch.Tensor, torch.Tensor]:
        """``(video_emb [N, D], text_emb [N, D])``, unit norm, on the CPU."""
        from crossclr_lab.training.trainer import embed

        self.check(features)
        return embed(self.model, features)


def export_model(model: DualEncoder, config, train_description: dict, folder: str | os.PathLike,
                 record: dict | None = None, stem: str = "model", half: bool = False) -> tuple[Path, Path]:
    """Write ``<stem>.safetensors`` (float32 weights; float16 with ``half``) and ``<stem>.json`` into ``folder``,
    atomically; returns both paths. ``config``: the :class:`~crossclr_lab.training.trainer.TrainConfig`;
    ``train_description``: :func:`crossclr_lab.data.provenance.describe` of the training split; ``record``: a few
    fields of the run."""
    from safetensors.torch import save

    from crossclr_lab import __version__
    from crossclr_lab.losses import loss_defaults

    dtype = torch.float16 if half else torch.float32
    tensors = {k: v.detach().to(dtype).cpu().contiguous() for k, v in model.state_dict().items()}
    data = save(tensors, metadata={"format": FORMAT})
    weights = atomic_write_bytes(Path(folder) / f"{stem}.safetensors", data)
    card = {"format": FORMAT, "crossclr_lab": __version__, "weights": weights.name,
            "weights_sha256": hashlib.sha256(data).hexdigest(),
            "architecture": {k: getattr(config, k) for k in ARCHITECTURE},
            "loss": config.loss, "loss_kwargs": {**loss_defaults(config.loss), **config.loss_kwargs},
            "inputs": train_description, "record": record or {}}
    return weights, atomic_write_json(Path(folder) / f"{stem}.json", card)


def read_model(card_path: str | os.PathLike, expected_sha256: str | None = None) -> Reusable:
    """The model of a ``model.json``-style card and the weights file it names (their sha256 checked against the
    card, and against ``expected_sha256`` when given)."""
    from safetensors.torch import load

    card_path = Path(card_path)
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{card_path} cannot be read ({type(err).__name__}: {err})") from None
    if not isinstance(card, dict) or card.get("format") != FORMAT:
        raise ValueError(f"{card_path} is not a crossclr_lab model card (format {FORMAT!r})")
    weights = card_path.parent / card["weights"]
    data = weights.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != card["weights_sha256"] or (expected_sha256 is not None and digest != expected_sha256):
        raise ValueError(f"{weights} is damaged or was replaced: its sha256 does not match {card_path.name}; train "
                         "the model again (or restore the folder)")
    arch, inputs = card["architecture"], card["inputs"]
    model = build_model_for_shapes(inputs["video_shape"], inputs["text_shape"], **arch)
    model.load_state_dict(load(data))   # float16 weights are widened to the parameters' float32
    return Reusable(model.eval(), card, card_path.parent)


def load_run(path: str | os.PathLike) -> Reusable:
    """The trained model of run folder ``path`` (``crossclr-lab train --out PATH``, or one seed of a comparison:
    ``OUT/runs/<variant>/seed<N>``), in eval mode on the CPU, with the description of its inputs."""
    path = Path(path)
    if (path / CONFIG).is_file():
        return read_model(path / CONFIG)
    if not path.is_dir():
        raise FileNotFoundError(f"no run folder at {path}")
    runs = sorted(p.parent.relative_to(path).as_posix() for p in path.glob(f"runs/*/*/{CONFIG}"))
    if runs:
        raise FileNotFoundError(f"{path} is a comparison: load one of its runs, e.g. {path / runs[0]} "
                                f"({len(runs)} runs: {', '.join(runs[:4])}{', ...' if len(runs) > 4 else ''})")
    if (path / "record.json").is_file():
        raise FileNotFoundError(f"{path} holds a run without {CONFIG}: it has not finished (continue it with "
                                "`crossclr-lab train --resume`) or was written by an older crossclr_lab (train again)")
    raise FileNotFoundError(f"{path} holds no run: expected {CONFIG} and {WEIGHTS} (written when training finishes)")


def shipped_card(loss: str) -> Path:
    """Where the shipped model of ``loss`` is described: ``data/pretrained/emoji_motion/<loss>.json``."""
    from crossclr_lab.training.pretrained import SHIPPED_DIR

    if SHIPPED_DIR is None:
        raise FileNotFoundError("this crossclr_lab was installed without its data folder, which holds the shipped "
                                "models: set CROSSCLR_DATA_DIR to a checkout's data/ folder (or use the checkout: "
                                "make install), or train a model with `crossclr-lab train`")
    return SHIPPED_DIR / "emoji_motion" / f"{loss}.json"


def load_pretrained(loss: str = "crossclr") -> Reusable:
    """The model the kit ships for ``loss`` (notebook 03's seed-0 model on Emoji Motion, 12 epochs), its files
    checked against ``data/pretrained/MANIFEST.sha256``; ``.dataset("test")`` loads the data it expects."""
    from crossclr_lab.training.pretrained import LOSSES, REBUILD, SHIPPED_DIR

    if loss not in LOSSES:
        raise ValueError(f"no shipped model for loss {loss!r}; the kit ships {', '.join(LOSSES)}")
    card = shipped_card(loss)
    if not card.is_file():
        raise FileNotFoundError(f"no shipped model at {card}: rebuild the shipped models (python -m "
                                "tools.build_pretrained) or train one with `crossclr-lab train`")
    manifest = read_manifest(SHIPPED_DIR, REBUILD)
    relative = card.relative_to(SHIPPED_DIR).as_posix()
    if sha256_file(card) != manifest.get(relative):
        raise ValueError(f"{card} is damaged or not in {SHIPPED_DIR}'s manifest; {REBUILD}")
    weights = json.loads(card.read_text(encoding="utf-8"))["weights"]
    return read_model(card, expected_sha256=manifest.get(f"emoji_motion/{weights}"))
