"""Data-parallel training: 2 gloo processes on CPU train like 1 with the global batch; the CLI under torchrun."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from crossclr_lab.data import make_synthetic
from crossclr_lab.distributed import GlobalBatchSlices, destroy_process_group, torchrun_device, torchrun_process_group
from crossclr_lab.training.checkpoint import load_checkpoint
from crossclr_lab.training.runs import RUN_FILES as WRITTEN  # record, checkpoint, history, model
from crossclr_lab.training.trainer import TrainConfig, Trainer

REPO = Path(__file__).resolve().parents[1]
WORLD = 2
DATA = dict(n_concepts=8, pairs_per_concept=10, video_dim=16, text_dim=12, frames=4, seed=0)
BASE = dict(epochs=3, batch_size=16, warmup_epochs=0.2, embed_dim=32, hidden_dim=32, lr=1e-2, progress=False,
            group="concept", dropout=0.0)
# equivalence runs: CrossCLR with a queue, pruning and weighting (input features gathered too), and InfoNCE
EQUIVALENCE = {
    "crossclr": dict(loss="crossclr", encoder="temporal",
                     loss_kwargs={"temperature": 0.1, "queue_size": 24, "weight_temperature": 0.5}),
    "infonce": dict(loss="infonce", loss_kwargs={"temperature": 0.1}),
}
# resume runs: dropout (per-rank RNG), loss queue, plateau scheduler and mid-epoch checkpoints
RESUME = dict(loss="crossclr", loss_kwargs={"temperature": 0.1, "queue_size": 24}, dropout=0.2, checkpoint_every=3,
              plateau_patience=0, monitor="t2v_r1")
KILL_AT = 7  # mid-epoch (5 steps per epoch)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def splits():
    return make_synthetic(split="train", **DATA), make_synthetic(split="val", **DATA)


def summary(record):
    return {"step_losses": record["step_losses"], "val": [e["val"] for e in record["history"]],
            "lr": [e["lr"] for e in record["history"]], "world_size": record["world_size"]}


class Killed(Exception):
    pass


def kill(trainer, step, parts):
    if step == KILL_AT:
        raise Killed


def worker(rank, port, out):
    """One rank: the equivalence runs (own out dir per rank), then full / killed / resumed runs in a shared dir."""
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    out = Path(out)
    try:
        train, val = splits()
        results = {name: summary(Trainer(TrainConfig(**{**BASE, **kw}), train, val,
                                         out_dir=out / f"{name}-rank{rank}").fit())
                   for name, kw in EQUIVALENCE.items()}
        cfg = TrainConfig(**{**BASE, **RESUME})
        loss_fn = Trainer(cfg, train, val).loss_fn
        results["loss_mode"] = {"gather_distributed": loss_fn.gather_distributed, "local_loss": loss_fn.local_loss}
        results["dropout_draw"] = torch.rand(4).tolist()  # each rank its own RNG stream after the model is built
        results["full"] = summary(Trainer(cfg, train, val, out_dir=out / "full").fit())
        try:
            Trainer(cfg, train, val, out_dir=out / "killed", callbacks={"on_step": kill}).fit()
        except Killed:
            pass
        dist.barrier()
        torch.manual_seed(1234 + rank)  # a fresh launch has other RNG states; resume must not depend on them
        results["resumed"] = summary(Trainer(cfg, train, val, out_dir=out / "killed").fit(resume=True))
        try:
            Trainer(TrainConfig(**{**BASE, "batch_size": 15}), train, val)
        except ValueError as err:
            results["odd_batch_error"] = str(err)
        (out / f"results-rank{rank}.json").write_text(json.dumps(results))
    finally:
        destroy_process_group()


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    """Results of both ranks (one spawn of 2 gloo processes for all distributed checks) and their folder."""
    out = tmp_path_factory.mktemp("ddp")
    mp.start_processes(worker, args=(free_port(), str(out)), nprocs=WORLD, start_method="spawn")
    return [json.loads((out / f"results-rank{r}.json").read_text()) for r in range(WORLD)], out


@pytest.mark.slow
@pytest.mark.parametrize("name", list(EQUIVALENCE))
def test_two_processes_equal_one_process_with_the_global_batch(two_ranks, name):
    ranks, _ = two_ranks
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        single = summary(Trainer(TrainConfig(**{**BASE, **EQUIVALENCE[name]}), *splits()).fit())
    finally:
        torch.set_num_threads(threads)
    assert single["world_size"] == 1 and ranks[0][name]["world_size"] == WORLD
    assert len(single["step_losses"]) == 15  # 80 pairs / global batch 16 = 5 steps x 3 epochs
    for r, result in enumerate(ranks):
        # float32, DDP averages 2 all-reduced gradients: equal up to rounding (measured: 1e-7 relative)
        assert result[name]["step_losses"] == pytest.approx(single["step_losses"], rel=1e-5), f"rank {r}"
        assert result[name]["lr"] == pytest.approx(single["lr"], rel=1e-6)
        for got, want in zip(result[name]["val"], single["val"]):
            assert got == pytest.approx(want, rel=1e-4, abs=1e-6), f"rank {r}: validation metrics differ"
    assert ranks[0][name] == ranks[1][name]  # identical losses and metrics on every rank


@pytest.mark.slow
def test_each_rank_computes_its_own_anchors_by_default(two_ranks):
    ranks, _ = two_ranks
    for result in ranks:
        assert result["loss_mode"] == {"gather_distributed": True, "local_loss": True}


@pytest.mark.slow
def test_only_rank_zero_writes(two_ranks):
    _, out = two_ranks
    for name in EQUIVALENCE:
        assert sorted(p.name for p in (out / f"{name}-rank0").iterdir()) == sorted(WRITTEN)
        assert not (out / f"{name}-rank1").exists() or not any((out / f"{name}-rank1").iterdir())


@pytest.mark.slow
def test_distributed_resume_is_exact_and_ranks_draw_their_own_dropout(two_ranks):
    ranks, out = two_ranks
    for result in ranks:
        assert result["resumed"] == result["full"]
    assert ranks[0]["full"] == ranks[1]["full"]
    assert ranks[0]["dropout_draw"] != ranks[1]["dropout_draw"]
    state = load_checkpoint(out / "killed" / "checkpoint.pt")
    assert len(state["rng_per_rank"]) == WORLD
    assert not torch.equal(state["rng_per_rank"][0]["torch"], state["rng_per_rank"][1]["torch"])


@pytest.mark.slow
def test_global_batch_must_split_evenly(two_ranks):
    ranks, _ = two_ranks
    for result in ranks:
        assert "divisible by 2" in result["odd_batch_error"]


def test_global_batch_slices_cover_each_global_batch_in_order():
    global_batches = [list(range(0, 8)), list(range(8, 16))]
    per_rank = [list(GlobalBatchSlices(global_batches, r, 2)) for r in range(2)]
    assert per_rank[0] == [[0, 1, 2, 3], [8, 9, 10, 11]] and per_rank[1] == [[4, 5, 6, 7], [12, 13, 14, 15]]
    assert len(GlobalBatchSlices(global_batches, 1, 2)) == 2
    assert list(GlobalBatchSlices(global_batches)) == global_batches
    with pytest.raises(ValueError, match="divisible"):
        list(GlobalBatchSlices([list(range(5))], 0, 2))
    with pytest.raises(ValueError, match="rank < world_size"):
        GlobalBatchSlices(global_batches, 2, 2)


@pytest.fixture
def torchrun_env(monkeypatch):
    """The environment torchrun gives a single process (world size 1)."""
    for key, value in dict(RANK="0", WORLD_SIZE="1", LOCAL_RANK="0", MASTER_ADDR="127.0.0.1",
                           MASTER_PORT=str(free_port())).items():
        monkeypatch.setenv(key, value)


def test_process_group_lives_for_the_block_under_torchrun(torchrun_env):
    with torchrun_process_group("cpu") as device:
        assert device == "cpu" and dist.is_initialized() and dist.get_backend() == "gloo"
    assert not dist.is_initialized()


def test_nothing_happens_outside_torchrun(monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    assert torchrun_device("auto") == "auto"
    with torchrun_process_group("auto") as device:
        assert device == "auto" and not dist.is_initialized()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_each_torchrun_process_takes_its_local_gpu(torchrun_env, monkeypatch):
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert torchrun_device("auto") == torchrun_device("cuda") == "cuda:0"
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ValueError, match="CUDA_VISIBLE_DEVICES"):
        torchrun_device("cuda:1")


@pytest.mark.slow
def test_torchrun_cli_trains_and_rank_zero_alone_writes(tmp_path):
    env = {**os.environ, "CI": "1", "OMP_NUM_THREADS": "1"}
    cmd = [str(Path(sys.executable).parent / "torchrun"), "--nproc_per_node=2", "--master_port", str(free_port()),
           "-m", "crossclr_lab", "train", "--dataset", "synthetic", "--loss", "crossclr", "--queue-size", "32",
           "--epochs", "2", "--batch-size", "32", "--threads", "1", "--out", str(tmp_path / "run")]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == sorted(WRITTEN)
    record = json.loads((tmp_path / "run" / "record.json").read_text())
    assert record["world_size"] == 2 and record["config"]["batch_size"] == 32 and record["finished"]
    assert record["steps"] == 2 * (200 // 32) and "test" in record  # 200 synthetic training pairs
    assert proc.stdout.count("record:") == 1  # one report, from rank 0


def test_other_commands_refuse_several_torchrun_processes(torchrun_env, monkeypatch, tmp_path, capsys):
    from crossclr_lab.cli import main

    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(SystemExit) as exc:
        main(["compare", "--dataset", "synthetic", "--out", str(tmp_path)])
    assert exc.value.code == 2 and "only `train` runs distributed" in capsys.readouterr().err
