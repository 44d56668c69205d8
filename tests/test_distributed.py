"""Losses over the global batch under torch.distributed: 2 gloo processes on CPU equal one process."""

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from crossclr_lab.distributed import destroy_process_group
from crossclr_lab.losses import LOSSES, build_loss

WORLD = 2
B, DIN, DEMB = 8, 6, 5


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_loss(name, gather):
    kwargs = {"gather_distributed": gather}
    if name == "crossclr":
        kwargs.update(queue_size=12, temperature=0.1, weight_temperature=0.5, prune_threshold=0.8)
    return build_loss(name, **kwargs)


def data(step):
    g = torch.Generator().manual_seed(step)
    x_video, x_text = torch.randn(B, DIN, generator=g), torch.randn(B, DIN, generator=g)
    shared = torch.randn(1, DIN, generator=g)
    x_video = x_video + 2 * shared * torch.rand(B, 1, generator=g)     # so pruning has something to do
    return x_video, x_text


def models():
    torch.manual_seed(0)
    return torch.nn.Linear(DIN, DEMB, dtype=torch.float64), torch.nn.Linear(DIN, DEMB, dtype=torch.float64)


def run_steps(name, video_model, text_model, loss_fn, rank=0, world=1, steps=3):
    """Loss values and parameter gradients of ``steps`` steps; each rank sees its slice of the batch."""
    out = []
    for step in range(steps):
        x_video, x_text = (x.double() for x in data(step))
        part = slice(rank * B // world, (rank + 1) * B // world)
        xv, xt = x_video[part], x_text[part]
        video_model.zero_grad()
        text_model.zero_grad()
        loss = loss_fn(video_model(xv), text_model(xt), xv, xt)
        loss.backward()
        grads = [p.grad.clone() for m in (video_model, text_model) for p in m.parameters()]
        out.append((loss.detach(), grads))
    return out


def run_ranked(rank, names, result_dir):
    for name in names:
        video_model, text_model = models()
        ddp_video = torch.nn.parallel.DistributedDataParallel(video_model)
        ddp_text = torch.nn.parallel.DistributedDataParallel(text_model)
        results = run_steps(name, ddp_video, ddp_text, make_loss(name, True), rank, WORLD)
        torch.save(results, os.path.join(result_dir, f"{name}_{rank}.pt"))


def worker(rank, port, names, result_dir):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    try:
        run_ranked(rank, names, result_dir)     # its DDP wrappers are unreachable once it returns
    finally:
        destroy_process_group()


@pytest.mark.slow
def test_two_processes_equal_one(tmp_path):
    names = list(LOSSES)
    mp.start_processes(worker, args=(free_port(), names, str(tmp_path)), nprocs=WORLD, start_method="spawn")
    for name in names:
        single = run_steps(name, *models(), make_loss(name, False))
        for rank in range(WORLD):
            ranked = torch.load(tmp_path / f"{name}_{rank}.pt", weights_only=True)
            for (loss_1, grads_1), (loss_n, grads_n) in zip(single, ranked):
                torch.testing.assert_close(loss_n, loss_1, msg=f"{name}: loss differs on rank {rank}")
                for g1, gn in zip(grads_1, grads_n):
                    torch.testing.assert_close(gn, g1, msg=f"{name}: gradients differ on rank {rank}")


def test_gather_needs_a_process_group():
    with pytest.raises(ValueError, match="torchrun"):
        build_loss("crossclr", gather_distributed=True)
    with pytest.raises(ValueError, match="init_process_group"):
        build_loss("infonce", gather_distributed=True)
