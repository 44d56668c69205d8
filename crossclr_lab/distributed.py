"""torch.distributed helpers: rank/world size, and all-gathers with and without gradient.

Works with any backend (NCCL on GPUs, gloo on CPU); every helper is a no-op in a single process.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor


def is_distributed() -> bool:
    """True inside an initialised process group with more than one rank."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def is_main_process() -> bool:
    return rank() == 0


def require_process_group(what: str) -> None:
    """Raise a clear error unless a process group is initialised."""
    if not (dist.is_available() and dist.is_initialized()):
        raise ValueError(f"{what} needs an initialised torch.distributed process group: launch with "
                         "`torchrun --nproc_per_node=N ...` and call torch.distributed.init_process_group() first "
                         "(or leave gather_distributed=False in a single process)")


class _AllGather(torch.autograd.Function):
    """All-gather whose backward sums the gradient over ranks and returns this rank's slice."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        out = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(out, x.contiguous())
        return torch.cat(out, dim=0)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        grad = grad.contiguous()
        dist.all_reduce(grad)
        size = grad.shape[0] // dist.get_world_size()
        return grad[dist.get_rank() * size:(dist.get_rank() + 1) * size]


def all_gather_with_grad(x: Tensor) -> Tensor:
    """Concatenate ``x [b, ...]`` of every rank in rank order → ``[world * b, ...]``; gradients flow back
    to each rank's own slice (summed over the ranks that used it). All ranks must pass the same shape."""
    if not is_distributed():
        return x
    return _AllGather.apply(x)


@torch.no_grad()
def all_gather_no_grad(x: Tensor) -> Tensor:
    """Like :func:`all_gather_with_grad` for tensors that need no gradient (input features, labels)."""
    if not is_distributed():
        return x
    out = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(out, x.contiguous())
    return torch.cat(out, dim=0)
