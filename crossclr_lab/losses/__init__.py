"""The CrossCLR loss and the baselines of the paper's Table 1, all with one signature:

``loss_fn(video_emb [B, D], text_emb [B, D], video_feat=None [B, Dv_in], text_feat=None [B, Dt_in])`` → scalar;
``loss_fn.parts(...)`` → :class:`LossParts` (the same as ``return_parts=True``).

Modules: ``base`` (:class:`PairLoss`, :class:`LossParts`, input checks), ``queue`` (:class:`FeatureQueue`),
``crossclr`` (:class:`CrossCLRLoss`, :func:`connectivity`, :func:`influential`), ``baselines``.
"""

import inspect

from .base import LossParts, PairLoss
from .baselines import DebiasedContrastiveLoss, InfoNCELoss, MaxMarginLoss, MILNCELoss, NTXentLoss
from .crossclr import CrossCLRLoss, connectivity, influential
from .queue import FeatureQueue

LOSSES: dict[str, type[PairLoss]] = {
    "crossclr": CrossCLRLoss,
    "infonce": InfoNCELoss,
    "nt_xent": NTXentLoss,
    "max_margin": MaxMarginLoss,
    "mil_nce": MILNCELoss,
    "dcl": DebiasedContrastiveLoss,
}


def build_loss(name: str, **kwargs) -> PairLoss:
    """A loss by name (one of :data:`LOSSES`), constructed with ``kwargs``.

    Example: ``build_loss("crossclr", queue_size=3000)``.
    """
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose one of: {', '.join(LOSSES)}")
    try:
        return LOSSES[name](**kwargs)
    except TypeError as err:
        raise ValueError(f"bad arguments for loss {name!r}: {err}") from None


def loss_defaults(name: str) -> dict:
    """The constructor defaults of loss ``name``, read from its signature (the one place they are written),
    e.g. ``loss_defaults("crossclr")["weight_temperature"] == 3.5e-3``."""
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose one of: {', '.join(LOSSES)}")
    return {k: p.default for k, p in inspect.signature(LOSSES[name]).parameters.items()
            if p.default is not inspect.Parameter.empty}


__all__ = ["PairLoss", "LossParts", "FeatureQueue", "CrossCLRLoss", "InfoNCELoss", "NTXentLoss", "MaxMarginLoss",
           "MILNCELoss", "DebiasedContrastiveLoss", "LOSSES", "build_loss", "loss_defaults", "connectivity",
           "influential"]
