"""The CrossCLR loss and the baselines of the paper's Table 1, all with one signature:

``loss_fn(video_emb [B, D], text_emb [B, D], video_feat=None [B, Dv_in], text_feat=None [B, Dt_in],
return_parts=False)`` → scalar tensor, or a dict of named parts with ``return_parts=True``.
"""

from .base import PairLoss
from .baselines import DCLLoss, InfoNCELoss, MaxMarginLoss, MILNCELoss, NTXentLoss
from .crossclr import CrossCLRLoss, connectivity, influential

LOSSES = {
    "crossclr": CrossCLRLoss,
    "infonce": InfoNCELoss,
    "nt_xent": NTXentLoss,
    "max_margin": MaxMarginLoss,
    "mil_nce": MILNCELoss,
    "dcl": DCLLoss,
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


__all__ = ["PairLoss", "CrossCLRLoss", "InfoNCELoss", "NTXentLoss", "MaxMarginLoss", "MILNCELoss", "DCLLoss",
           "LOSSES", "build_loss", "connectivity", "influential"]
