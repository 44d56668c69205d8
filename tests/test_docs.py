"""docs/own-training-loop.md runs as written: the loss in a plain PyTorch loop, then in a Lightning module."""

import math
import re
from pathlib import Path

import pytest
import torch

PAGE = Path(__file__).resolve().parents[1] / "docs" / "own-training-loop.md"


def blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.S)


@pytest.fixture(scope="module")
def plain_loop(one_thread):
    namespace = {"__name__": "docs_plain_loop"}
    torch.manual_seed(0)
    exec(compile(blocks()[0], str(PAGE), "exec"), namespace)
    return namespace


def test_the_page_has_the_two_examples():
    assert len(blocks()) == 2 and "class CrossCLRModule(pl.LightningModule)" in blocks()[1]


def test_the_plain_loop_learns(plain_loop):
    losses, per_epoch = plain_loop["losses"], len(plain_loop["loader"])
    assert len(losses) == 5 * per_epoch and all(math.isfinite(x) for x in losses)
    assert sum(losses[-per_epoch:]) < sum(losses[:per_epoch])          # the last epoch below the first
    metrics, chance_r10 = plain_loop["metrics"], 10 / 200 * 100          # 200 val pairs
    assert metrics["t2v_r10"] > 2 * chance_r10


def test_the_lightning_module_trains_the_same_loss(plain_loop):
    pytest.importorskip("pytorch_lightning")
    namespace = dict(plain_loop)
    exec(compile(blocks()[1], str(PAGE), "exec"), namespace)
    trainer, module = namespace["trainer"], namespace["module"]
    assert trainer.current_epoch == 5 and trainer.global_step == 5 * len(plain_loop["loader"])
    assert math.isfinite(float(trainer.callback_metrics["train_loss"]))
    from crossclr_lab.data import load_dataset
    from crossclr_lab.training import evaluate

    metrics = evaluate(module.model, load_dataset("synthetic", "val"), group="concept")
    assert metrics["t2v_r10"] > 2 * 10 / 200 * 100                     # learned: twice chance R@10 at least
