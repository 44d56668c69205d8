"""Losses over the global batch under torch.distributed: N gloo processes on CPU equal one process, in both the
gather-everything mode and the local-loss mode (each rank its own anchors), for every loss."""

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from crossclr_lab.distributed import destroy_process_group
from crossclr_lab.losses import LOSSES, build_loss

B, DIN, DEMB = 12, 6, 5      # global batch 12: 6 pairs per rank on 2 processes, 4 on 3
STEPS = 3                    # the queue (18 slots) fills and wraps around
# every loss; CrossCLR with queue, pruning and weighting, whole and chunked (chunks smaller than a rank's rows)
CASES = {name: (name, {}) for name in LOSSES}
CASES["crossclr"] = ("crossclr", dict(queue_size=18, temperature=0.1, weight_temperature=0.5, prune_threshold=0.8))
CASES["crossclr chunked"] = ("crossclr", {**CASES["crossclr"][1], "chunk_size": 3})
MODES = {"gather": dict(gather_distributed=True), "local": dict(gather_distributed=True, local_loss=True)}
PER_ANCHOR = ("per_sample_video", "per_sample_text", "weight_video", "weight_text", "connectivity_video",
              "connectivity_text", "influential_video", "influential_text")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def data(step):
    g = torch.Generator().manual_seed(step)
    x_video, x_text = torch.randn(B, DIN, generator=g), torch.randn(B, DIN, generator=g)
    shared = torch.randn(1, DIN, generator=g)
    x_video = x_video + 2 * shared * torch.rand(B, 1, generator=g)     # so pruning has something to do
    x_text = x_text + shared * torch.rand(B, 1, generator=g)           # and weighting too
    return x_video.double(), x_text.double()


class PairModel(torch.nn.Module):
    """Two linear encoders and a learnable temperature (used by the loss, outside ``forward``, as in the trainer)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.video, self.text = torch.nn.Linear(DIN, DEMB), torch.nn.Linear(DIN, DEMB)
        self.log_temperature = torch.nn.Parameter(torch.tensor(-2.0))
        self.double()

    def forward(self, x_video, x_text):
        return self.video(x_video), self.text(x_text)


def run_steps(case, mode_kwargs, rank=0, world=1):
    """Per step: loss, parameter gradients (DDP-averaged under a process group) and the per-anchor parts;
    then the loss's queue. Each rank feeds its slice of the global batch."""
    name, kwargs = CASES[case]
    loss_fn = build_loss(name, **kwargs, **mode_kwargs)
    model = PairModel()
    train_model = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    out = []
    for step in range(STEPS):
        x_video, x_text = data(step)
        part = slice(rank * B // world, (rank + 1) * B // world)
        model.zero_grad()
        v, t = train_model(x_video[part], x_text[part])
        tau = model.log_temperature.exp() if loss_fn.uses_temperature else None
        parts = loss_fn.parts(v, t, x_video[part], x_text[part], temperature=tau)
        # DDP expects a gradient for every parameter, also the temperature a margin loss does not use
        loss = parts.loss if tau is not None else parts.loss + 0 * model.log_temperature
        loss.backward()
        rows = parts.rows or slice(0, B)
        out.append({"loss": loss.detach(), "grads": [p.grad.clone() for p in model.parameters()],
                    "rows": (rows.start, rows.stop),
                    **{k: getattr(parts, k).detach() for k in PER_ANCHOR if getattr(parts, k) is not None}})
    return out, {k: v.clone() for k, v in loss_fn.state_dict().items()}


def worker(rank, world, port, result_dir):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        for case in CASES:
            for mode, mode_kwargs in MODES.items():
                torch.save(run_steps(case, mode_kwargs, rank, world),
                           os.path.join(result_dir, f"{case}-{mode}-{rank}.pt"))
    finally:
        destroy_process_group()


@pytest.mark.slow
@pytest.mark.parametrize("world", [2, 3])
def test_n_processes_equal_one(tmp_path, world, one_thread):
    """Loss values, DDP-averaged parameter gradients (temperature included), per-anchor parts and the queue
    equal one process with the global batch, for every loss, gathering everything or each rank its own rows."""
    mp.start_processes(worker, args=(world, free_port(), str(tmp_path)), nprocs=world, start_method="spawn")
    for case in CASES:
        single, single_queue = run_steps(case, {})
        if case.startswith("crossclr"):   # the global quantities were exercised: pruning and uneven weights
            assert any(s["influential_video"].any() for s in single) and single[-1]["weight_video"].std() > 0.01
        for mode in MODES:
            for rank in range(world):
                ranked, queue = torch.load(tmp_path / f"{case}-{mode}-{rank}.pt", weights_only=True)
                where = f"{case}, {mode}, rank {rank} of {world}"
                for step, (one, many) in enumerate(zip(single, ranked)):
                    torch.testing.assert_close(many["loss"], one["loss"], msg=f"{where}: loss at step {step}")
                    for g1, gn in zip(one["grads"], many["grads"]):
                        torch.testing.assert_close(gn, g1, msg=f"{where}: gradients at step {step}")
                    b = B // world
                    expected_rows = (rank * b, (rank + 1) * b) if mode == "local" else (0, B)
                    assert many["rows"] == expected_rows, where
                    for key in PER_ANCHOR:
                        if key in one:
                            torch.testing.assert_close(many[key], one[key][slice(*expected_rows)],
                                                       msg=f"{where}: {key} at step {step}")
                for key, value in single_queue.items():
                    torch.testing.assert_close(queue[key], value, msg=f"{where}: queue {key}")


def test_gather_needs_a_process_group():
    with pytest.raises(ValueError, match="torchrun"):
        build_loss("crossclr", gather_distributed=True)
    with pytest.raises(ValueError, match="init_process_group"):
        build_loss("infonce", gather_distributed=True)


@pytest.mark.parametrize("name", list(LOSSES))
def test_local_loss_needs_the_gather(name):
    with pytest.raises(ValueError, match="gather_distributed=True"):
        build_loss(name, local_loss=True)
