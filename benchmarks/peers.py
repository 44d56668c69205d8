"""Peer implementations from PyPI (the ``bench`` extra), wrapped to our call ``fn(v, t, video_feat, text_feat)``.

None is required: a peer that is not installed is reported as such. A peer whose *package* import fails
for a reason unrelated to its loss (the PyPI torchvision wheel is a CUDA build that cannot load beside the
CPU torch wheel, and open_clip's and lightly's package ``__init__`` import torchvision) is loaded from its
loss module's own file, the package ``__init__`` files skipped; that is reported too.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.metadata
import os
import sys
import types
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

# distribution name on PyPI -> module names
DISTRIBUTIONS = {"open_clip_torch": "open_clip", "pytorch-metric-learning": "pytorch_metric_learning",
                 "lightly": "lightly"}


@dataclass
class Peer:
    """A peer loss: ``build(temperature) -> fn(v, t, video_feat, text_feat) -> scalar``.

    ``same_as`` names our loss with the same maths (values are compared), or ``None`` with ``note`` saying why not.
    ``max_batch``: larger batches are skipped (the peer's memory grows faster than O(B²)).
    """

    name: str
    distribution: str
    module: str
    build: Callable[[object, float], Callable]
    same_as: str | None
    note: str = ""
    max_batch: int | None = None


def _clip(mod, tau):
    loss = mod.ClipLoss()
    scale = torch.tensor(1.0 / tau)
    # CLIP models normalise before the loss; our losses normalise inside, so the wrapper does it too.
    return lambda v, t, vf, tf: loss(F.normalize(v, dim=1), F.normalize(t, dim=1), scale)


def _pml_ntxent(mod, tau):
    loss = mod.NTXentLoss(temperature=tau)

    def fn(v, t, vf, tf):
        labels = torch.arange(len(v), device=v.device).repeat(2)        # pair i: rows i and B + i
        return loss(torch.cat([v, t]), labels)
    return fn


def _lightly_ntxent(mod, tau):
    loss = mod.NTXentLoss(temperature=tau, memory_bank_size=0)
    return lambda v, t, vf, tf: loss(v, t)


def _lightly_dcl(mod, tau):
    loss = mod.DCLLoss(temperature=tau)
    return lambda v, t, vf, tf: loss(v, t)


PEERS = [
    Peer("open_clip ClipLoss", "open_clip_torch", "open_clip.loss", _clip, same_as="infonce",
         note="logit_scale = 1/τ on L2-normalised inputs"),
    Peer("PML NTXentLoss", "pytorch-metric-learning", "pytorch_metric_learning.losses", _pml_ntxent,
         same_as="nt_xent", note="on [v; t] with labels i, i (pairs); builds a (2B) x (2B)(2B-2) tensor",
         max_batch=256),
    Peer("lightly NTXentLoss", "lightly", "lightly.loss.ntx_ent_loss", _lightly_ntxent, same_as="nt_xent",
         note="memory_bank_size=0"),
    Peer("lightly DCLLoss", "lightly", "lightly.loss.dcl_loss", _lightly_dcl, same_as=None,
         note="decoupled contrastive learning (Yeh et al., 2022): positive left out of the denominator, "
              "intra-view negatives; not the debiased DCL (Chuang et al., 2020) of our DebiasedContrastiveLoss; "
              "values not compared"),
]


def _import_skipping_package_init(module_name: str):
    """Import ``module_name`` with every package of its distribution registered as a bare package, so
    only the module files actually imported run (not the package ``__init__`` files)."""
    top = module_name.split(".")[0]
    spec = importlib.machinery.PathFinder.find_spec(top)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"{top} is not an installed package")
    root = spec.submodule_search_locations[0]
    for dirpath, _, filenames in os.walk(root):
        if "__init__.py" not in filenames:
            continue
        name = os.path.relpath(dirpath, os.path.dirname(root)).replace(os.sep, ".")
        if name not in sys.modules:
            package = types.ModuleType(name)
            package.__path__ = [dirpath]
            package.__package__ = name
            package.__spec__ = importlib.machinery.ModuleSpec(name, None, is_package=True)
            package.__spec__.submodule_search_locations = [dirpath]
            sys.modules[name] = package
    return importlib.import_module(module_name)


_BARE: dict[str, str] = {}   # top-level package -> why its package import failed (then loaded bare)


def load_peer(peer: Peer) -> tuple[object | None, str]:
    """``(module, status)``: status is "ok", "ok (loaded without the package __init__ ...)",
    "not installed" or "not importable: ..."."""
    try:
        importlib.metadata.version(peer.distribution)
    except importlib.metadata.PackageNotFoundError:
        return None, "not installed"
    top = peer.module.split(".")[0]
    if top not in _BARE:
        try:
            return importlib.import_module(peer.module), "ok"
        except Exception as err:  # noqa: BLE001 - a peer's import error of any kind is reported, not raised
            _BARE[top] = f"{type(err).__name__}: {err}".splitlines()[0][:160]
        for name in [m for m in sys.modules if m.split(".")[0] == top]:
            del sys.modules[name]                                # leftovers of the failed import
    try:
        module = _import_skipping_package_init(peer.module)
    except Exception as err:  # noqa: BLE001
        return None, (f"not importable: {_BARE[top]}; without the package __init__: "
                      f"{type(err).__name__}: {err}")[:400]
    return module, f"ok (loaded without the package __init__, whose import failed: {_BARE[top]})"


def peer_versions() -> dict[str, str]:
    out = {}
    for dist in DISTRIBUTIONS:
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def available_peers(tau: float) -> tuple[dict[str, tuple[Peer, Callable]], dict[str, str]]:
    """``(name -> (peer, fn))`` of the peers that load, and ``name -> status`` for all of them."""
    loaded, status = {}, {}
    for peer in PEERS:
        module, status[peer.name] = load_peer(peer)
        if module is not None:
            loaded[peer.name] = (peer, peer.build(module, tau))
    return loaded, status
