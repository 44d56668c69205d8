"""The trainer end to end on tiny synthetic data: learning, records, exact resume, seeding, options."""

import json
import math
import warnings
from dataclasses import replace

import pytest
import torch

from crossclr_lab.data import make_synthetic
from crossclr_lab.training.trainer import PruningWarning, TrainConfig, Trainer, embed, evaluate, train

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data():
    kw = dict(n_concepts=8, pairs_per_concept=10, video_dim=16, text_dim=12, frames=4, seed=0)
    return make_synthetic(split="train", **kw), make_synthetic(split="val", **kw)


def _config(**kw):
    base = dict(loss="infonce", epochs=4, batch_size=16, warmup_epochs=0.2, embed_dim=32, hidden_dim=32, lr=1e-2,
                progress=False, group="concept", loss_kwargs={"temperature": 0.1})
    return TrainConfig(**{**base, **kw})


def test_twenty_steps_learn_and_write_a_complete_record(data, tmp_path):
    train_data, val_data = data
    trainer = Trainer(_config(), train_data, val_data, out_dir=tmp_path)
    record = trainer.fit()
    losses = record["step_losses"]
    assert record["steps"] == len(losses) == 20  # 80 items / batch 16 = 5 steps x 4 epochs
    assert sum(losses[-5:]) / 5 < 0.8 * sum(losses[:5]) / 5
    val = record["history"][-1]["val"]
    chance_r10, chance_sem = 100 * 10 / len(val_data), 100 / 8  # 8 equally large concepts
    assert val["t2v_r10"] > 2 * chance_r10 and val["v2t_r10"] > 2 * chance_r10
    assert val["t2v_sem_r1"] > 2 * chance_sem and val["v2t_sem_r1"] > 2 * chance_sem
    on_disk = json.loads((tmp_path / "record.json").read_text())
    for key in ("config", "seed", "versions", "device", "history", "wall_time_s", "step_losses", "best_epoch"):
        assert key in on_disk, key
    assert on_disk["finished"] and on_disk["config"]["loss"] == "infonce" and on_disk["device"] == "cpu"
    assert set(on_disk["versions"]) == {"python", "torch", "numpy", "crossclr_lab"}
    assert [e["epoch"] for e in on_disk["history"]] == [1, 2, 3, 4]
    assert all({"lr", "train", "val", "time_s"} <= set(e) for e in on_disk["history"])
    assert on_disk["wall_time_s"] > 0
    # the model holds the best-on-val weights at the end
    best = record["history"][record["best_epoch"] - 1]["val"]
    assert evaluate(trainer.model, val_data, "concept") == pytest.approx(best)


class Killed(Exception):
    pass


@pytest.mark.parametrize("kill_at", [7, 10])  # mid-epoch and exactly at an epoch end
def test_resume_after_kill_gives_identical_results(data, tmp_path, kill_at):
    train_data, val_data = data
    # CrossCLR with a queue (loss state) + dropout (RNG state) + plateau scheduler: all must be restored
    cfg = _config(loss="crossclr", loss_kwargs={"temperature": 0.1, "queue_size": 24, "weight_temperature": None},
                  encoder="temporal", checkpoint_every=3, plateau_patience=0, monitor="t2v_r1", dropout=0.2)
    full = Trainer(cfg, train_data, val_data, out_dir=tmp_path / "full").fit()

    def kill(trainer, step, parts):
        if step == kill_at:
            raise Killed

    with pytest.raises(Killed):
        Trainer(cfg, train_data, val_data, out_dir=tmp_path / "killed", callbacks={"on_step": kill}).fit()
    partial = json.loads((tmp_path / "killed" / "record.json").read_text())
    assert not partial["finished"]
    torch.manual_seed(1234)  # a fresh process has other RNG states; resume must not depend on them
    resumed = Trainer(cfg, train_data, val_data, out_dir=tmp_path / "killed").fit(resume=True)
    assert resumed["step_losses"] == full["step_losses"]
    assert [e["val"] for e in resumed["history"]] == [e["val"] for e in full["history"]]
    assert [e["lr"] for e in resumed["history"]] == [e["lr"] for e in full["history"]]


def test_resume_without_checkpoint_says_what_to_do(data, tmp_path):
    with pytest.raises(FileNotFoundError, match="train without resume"):
        Trainer(_config(), *data, out_dir=tmp_path).fit(resume=True)


def test_same_seed_same_metrics_other_seed_differs(data):
    runs = [train(_config(epochs=2, seed=s), *data)[1]["history"][-1]["val"] for s in (3, 3, 4)]
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_warmup_then_plateau_reduces_lr(data):
    seen = []
    cfg = _config(epochs=6, warmup_epochs=1, plateau_patience=0, monitor="t2v_medr", lr=1e-3)
    trainer = Trainer(cfg, *data, callbacks={"on_step": lambda t, s, p: seen.append(t.optimizer.param_groups[0]["lr"])})
    record = trainer.fit()
    assert seen[:5] == pytest.approx([2e-4, 4e-4, 6e-4, 8e-4, 1e-3])  # 5 steps per epoch
    lrs = [e["lr"] for e in record["history"]]
    assert all(b <= a for a, b in zip(lrs, lrs[1:]))


def test_early_stopping_stops_and_stays_stopped_on_resume(data, tmp_path):
    # lr so small that nothing improves after the first evaluation
    cfg = _config(epochs=20, lr=1e-9, warmup_epochs=0, early_stop_patience=2)
    record = train(cfg, *data, out_dir=tmp_path)[1]
    assert record["stopped_early"] and record["epochs_run"] == 3
    assert train(cfg, *data, out_dir=tmp_path, resume=True)[1]["epochs_run"] == 3


def test_max_steps_and_eval_every(data):
    record = train(_config(epochs=10, max_steps=7, eval_every=2), *data)[1]
    assert record["steps"] == 7 and record["epochs_run"] == 2
    assert "val" not in record["history"][0] and "val" in record["history"][1]


def test_callbacks_get_parts_and_epochs(data):
    steps, epochs = [], []
    trainer = Trainer(_config(epochs=1), *data)
    trainer.add_callback("on_step", lambda t, step, parts: steps.append((step, sorted(parts))))
    trainer.add_callback("on_epoch_end", lambda t, epoch, entry: epochs.append(entry["epoch"]))
    trainer.fit()
    assert [s for s, _ in steps] == [1, 2, 3, 4, 5] and epochs == [1]
    assert {"loss", "loss_video", "loss_text"} <= set(steps[0][1])
    with pytest.raises(ValueError, match="on_step, on_epoch_end"):
        trainer.add_callback("on_batch", print)


def test_learnable_temperature_is_trained(data):
    model, _ = train(_config(epochs=1, learn_temperature=True), *data)
    assert not math.isclose(model.temperature.item(), 0.03, rel_tol=1e-4)


def test_bf16_autocast_runs_on_cpu(data):
    record = train(_config(epochs=1, amp="bf16"), *data)[1]
    assert all(math.isfinite(x) for x in record["step_losses"])


@pytest.mark.parametrize("kwargs, match", [
    ({"optimizer": "sgd"}, "radam, adamw"), ({"amp": "fp8"}, "none, bf16, fp16"), ({"epochs": 0}, "epochs"),
    ({"encoder": "rnn"}, "mlp, temporal"), ({"lr": 0.0}, "lr must be a finite number > 0"),
])
def test_config_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _config(**kwargs)


def test_trainer_argument_checks(data):
    with pytest.raises(ValueError, match="exceeds"):
        Trainer(_config(batch_size=1000), *data)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="fp16"):
            Trainer(_config(amp="fp16"), *data)
    with pytest.raises(ValueError, match="group"):
        evaluate(Trainer(_config(), *data).model, data[1], group="colour")


def test_embed_whole_dataset(data):
    model, _ = train(_config(epochs=1), *data)
    model.train()
    video_emb, text_emb = embed(model, data[1], batch_size=7)
    assert model.training  # the mode is restored after embedding in eval mode
    assert video_emb.shape == text_emb.shape == (len(data[1]), 32)
    torch.testing.assert_close(video_emb.norm(dim=1), torch.ones(len(data[1])))
    torch.testing.assert_close(embed(model, data[1], batch_size=80)[0], video_emb)


def test_unknown_monitor_is_named(data):
    with pytest.raises(ValueError, match="not a validation metric"):
        train(_config(epochs=1, monitor="accuracy"), *data)


def test_a_run_never_resumed_checkpoints_once_at_the_end(data, tmp_path, monkeypatch):
    import crossclr_lab.training.trainer as trainer_module
    from crossclr_lab.training.checkpoint import load_checkpoint

    saves, save = [], trainer_module.save_checkpoint
    monkeypatch.setattr(trainer_module, "save_checkpoint",
                        lambda state, path: saves.append((path.parent.name, state["epoch"])) or save(state, path))
    Trainer(_config(checkpoint_every=2), *data, out_dir=tmp_path / "once", resumable=False).fit()
    Trainer(_config(checkpoint_every=2), *data, out_dir=tmp_path / "every").fit()
    assert [epoch for name, epoch in saves if name == "once"] == [4]
    every_epochs = [epoch for name, epoch in saves if name == "every"]  # each epoch end and every 2 steps
    assert {1, 2, 3, 4} <= set(every_epochs) and len(every_epochs) == 4 + 20 // 2
    once, every = (load_checkpoint(tmp_path / name / "checkpoint.pt") for name in ("once", "every"))
    assert once["best"]["epoch"] == every["best"]["epoch"]
    assert all(torch.equal(once["model"][k], every["model"][k]) for k in every["model"])


def test_mlp_batches_carry_only_pooled_features(data):
    mlp, temporal = (Trainer(_config(encoder=encoder), *data) for encoder in ("mlp", "temporal"))
    assert set(next(iter(mlp.loader))) == {"video_pooled", "text_pooled"}
    assert {"video", "video_length", "video_pooled", "text_pooled"} <= set(next(iter(temporal.loader)))


def _near_equal(data, side: str):
    """``data`` with one side's input features replaced by nearly equal positive vectors (every C_i ≈ max C)."""
    g = torch.Generator().manual_seed(0)
    if side == "video":
        video = (1 + 0.01 * torch.randn(data.video.shape, generator=g)).abs()
        mask = torch.arange(video.shape[1])[None, :] < data.video_lengths[:, None]
        return replace(data, video=video * mask[..., None], video_pooled=None)
    return replace(data, text=(1 + 0.01 * torch.randn(data.text.shape, generator=g)).abs(), text_pooled=None)


def test_pruning_warning_once_when_most_of_a_batch_is_pruned(data):
    train_data, val_data = data
    cfg = _config(loss="crossclr", epochs=2, loss_kwargs={"temperature": 0.1, "prune_threshold": 0.9})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        record = Trainer(cfg, train_data, val_data).fit()
    assert not [w for w in caught if issubclass(w.category, PruningWarning)]      # spread inputs: little pruned
    assert record["history"][0]["train"]["pruned_video"] < 0.5
    for sides in (("video",), ("video", "text")):
        near = train_data
        for side in sides:
            near = _near_equal(near, side)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            record = Trainer(cfg, near, val_data).fit()
        pruning = [w for w in caught if issubclass(w.category, PruningWarning)]
        assert len(pruning) == 1 and "epoch 1" in str(pruning[0].message)              # once, not every epoch
        train = record["history"][0]["train"]
        assert train["pruned_video"] > 0.9
        # both sides pruned entirely: no negatives left, the loss is exactly 0, and the warning says so
        assert (train["zero_loss"] == 1.0) == (len(sides) == 2)
        assert ("100 % of the steps had a loss of exactly 0" in str(pruning[0].message)) == (len(sides) == 2)
