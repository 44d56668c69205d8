"""torch.distributed helpers: rank/world size, all-gathers with and without gradient, the process group of a
``torchrun`` launch and the sampler that splits each global batch over the ranks.

Works with any backend (NCCL on GPUs, gloo on CPU); every helper is a no-op in a single process.
"""

from __future__ import annotations

import contextlib
import gc
import os
from typing import Iterator

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_nn
from torch import Tensor
from torch.utils.data import Sampler

from crossclr_lab.utils import resolve_device

TORCHRUN_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK")  # set by torchrun for every process it starts


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


def all_gather_with_grad(x: Tensor) -> Tensor:
    """Concatenate ``x [b, ...]`` of every rank in rank order → ``[world * b, ...]``; gradients flow back
    to each rank's own slice (summed over the ranks that used it; torch's own differentiable all-gather,
    ``torch.distributed.nn.functional.all_gather``). All ranks must pass the same shape."""
    if not is_distributed():
        return x
    return torch.cat(dist_nn.all_gather(x.contiguous()), dim=0)


@torch.no_grad()
def all_gather_no_grad(x: Tensor) -> Tensor:
    """Like :func:`all_gather_with_grad` for tensors that need no gradient (input features, labels)."""
    if not is_distributed():
        return x
    out = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(out, x.contiguous())
    return torch.cat(out, dim=0)


@torch.no_grad()
def all_reduce_sum(x: Tensor) -> Tensor:
    """The sum of ``x`` over the ranks (a detached copy; ``x`` itself is left alone); ``x`` in a single process."""
    if not is_distributed():
        return x.detach()
    out = x.detach().clone()
    dist.all_reduce(out)
    return out


def all_gather_objects(obj) -> list:
    """``[obj of rank 0, obj of rank 1, ...]`` (any picklable object); ``[obj]`` in a single process."""
    if not is_distributed():
        return [obj]
    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def launched_by_torchrun() -> bool:
    """True when this process was started by ``torchrun`` (its environment holds RANK, WORLD_SIZE, LOCAL_RANK)."""
    return all(k in os.environ for k in TORCHRUN_ENV)


def torchrun_device(device: str = "auto") -> str:
    """This process's device: under ``torchrun``, ``"auto"``/``"cuda"`` become ``cuda:LOCAL_RANK`` (``"cpu"``
    stays); outside ``torchrun`` ``device`` is returned unchanged."""
    if not launched_by_torchrun():
        return device
    dev = resolve_device(device)
    if dev.type != "cuda":
        return str(dev)
    if dev.index is not None and int(os.environ["WORLD_SIZE"]) > 1:
        raise ValueError(f"device {device!r} under torchrun: every process uses cuda:LOCAL_RANK; "
                         "pass device 'auto' or 'cuda' (choose the GPUs with CUDA_VISIBLE_DEVICES)")
    return f"cuda:{os.environ['LOCAL_RANK']}"


def destroy_process_group() -> None:
    """Destroy the default process group after freeing unreachable objects first.

    A DistributedDataParallel wrapper sits in reference cycles, so dropping the last reference does not free
    it; if its reducer outlives the group, the process aborts at exit ("terminate called without an active
    exception"; seen with gloo in about one run in three). Collecting first frees it while the group exists.
    """
    gc.collect()
    dist.destroy_process_group()


@contextlib.contextmanager
def torchrun_process_group(device: str = "auto") -> Iterator[str]:
    """Under ``torchrun``: initialise the default process group, yield this process's device
    (:func:`torchrun_device`), destroy the group at the end. Outside ``torchrun`` (or with a group already
    initialised) it does nothing and yields ``device`` unchanged.

    Backend: NCCL when the device is CUDA, else gloo; the rendezvous comes from torchrun's environment
    (MASTER_ADDR, MASTER_PORT). Example::

        with torchrun_process_group("auto") as device:
            Trainer(TrainConfig(device=device), train_data).fit()
    """
    if not launched_by_torchrun() or dist.is_initialized():
        yield device
        return
    dev = torch.device(torchrun_device(device))
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    try:
        yield str(dev)
        dist.barrier()  # every rank is done (rank 0 has written its files) before the group goes
    finally:
        destroy_process_group()


class GlobalBatchSlices(Sampler[list[int]]):
    """This rank's contiguous slice of every global batch that ``batch_sampler`` yields.

    Every rank builds the same ``batch_sampler`` (same generator seed, hence the same permutation) and keeps
    rows ``[rank * b, (rank + 1) * b)`` of each global batch of ``world * b`` indices. Gathered in rank order
    (as the losses do with ``gather_distributed=True``) the slices are the global batch itself, in order, so
    N processes train on exactly the batches of one process with the global batch size. (PyTorch's
    ``DistributedSampler`` instead deals out indices ``rank::world`` from its own permutation.)
    """

    def __init__(self, batch_sampler, rank: int = 0, world_size: int = 1):
        if not 0 <= rank < world_size:
            raise ValueError(f"need 0 <= rank < world_size, got rank {rank}, world_size {world_size}")
        self.batch_sampler, self.rank, self.world_size = batch_sampler, rank, world_size

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self.batch_sampler:
            if len(batch) % self.world_size:
                raise ValueError(f"a global batch of {len(batch)} cannot be split evenly over {self.world_size} "
                                 "ranks; use a batch size divisible by the number of processes and drop_last=True")
            size = len(batch) // self.world_size
            yield batch[self.rank * size:(self.rank + 1) * size]

    def __len__(self) -> int:
        return len(self.batch_sampler)
