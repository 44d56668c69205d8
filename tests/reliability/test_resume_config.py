"""Issue 12, item 2: ``resume`` continues the same run or is refused with the list of what differs."""

import json

import pytest
from fixtures.tiny_runs import TRAIN_ARGS, run_cli, tiny_config, tiny_splits

from crossclr_lab.data import load_dataset
from crossclr_lab.training.checkpoint import SAFE_TO_CHANGE, ResumeMismatch
from crossclr_lab.training.trainer import Trainer

pytestmark = pytest.mark.usefixtures("one_thread")


def _resume(out, splits=None, **changes):
    config = tiny_config(**{"epochs": 2, **changes})
    return Trainer(config, *(splits or tiny_splits()), out_dir=out).fit(resume=True)


@pytest.mark.parametrize("changes, listed", [
    ({"lr": 2e-2}, ["lr: 0.01 in the checkpoint, 0.02 now"]),
    ({"batch_size": 8}, ["batch_size: 16 in the checkpoint, 8 now"]),
    ({"seed": 1}, ["seed: 0 in the checkpoint, 1 now"]),
    ({"loss_kwargs": {"temperature": 0.1, "queue_size": 32, "weight_temperature": None}},
     ["loss_settings.queue_size: 16 in the checkpoint, 32 now"]),
    ({"loss_kwargs": {"temperature": 0.2, "queue_size": 16, "weight_temperature": None}},
     ["loss_settings.temperature: 0.1 in the checkpoint, 0.2 now"]),
    ({"lr": 2e-2, "warmup_epochs": 1.0}, ["lr:", "warmup_epochs: 0.0 in the checkpoint, 1.0 now"]),
    ({"loss": "infonce", "loss_kwargs": {"temperature": 0.1}}, ["loss: 'crossclr' in the checkpoint, 'infonce' now"]),
    ({"encoder": "temporal"}, ["encoder: 'mlp' in the checkpoint, 'temporal' now"]),
    ({"amp": "bf16"}, ["amp: 'none' in the checkpoint, 'bf16' now"]),
])
def test_a_different_setting_is_refused_listing_it(run_copy, changes, listed):
    record = (run_copy / "record.json").read_bytes()
    with pytest.raises(ResumeMismatch) as err:
        _resume(run_copy, **changes)
    message = str(err.value)
    assert str(run_copy / "checkpoint.pt") in message
    for line in listed:
        assert line in message, message
    assert (run_copy / "record.json").read_bytes() == record  # nothing was mixed into the run


def test_other_data_is_refused(run_copy):
    with pytest.raises(ResumeMismatch, match="data.train.seed: 0 in the checkpoint, 1 now"):
        _resume(run_copy, splits=tiny_splits(seed=1))
    train, val = tiny_splits()
    with pytest.raises(ResumeMismatch, match="data.train.fingerprint"):   # same source, other items
        _resume(run_copy, splits=(train.subset(range(40)), val))


def test_split_kind_change_is_refused(tmp_path):
    """The campaign's worst leak: --split-kind random after a concept-split run."""
    concept = [load_dataset("emoji_motion", s, split_kind="concept") for s in ("train", "val")]
    Trainer(tiny_config(max_steps=1, batch_size=32, group=None), *concept, out_dir=tmp_path).fit()
    random = [load_dataset("emoji_motion", s, split_kind="random") for s in ("train", "val")]
    with pytest.raises(ResumeMismatch, match="data.train.split_kind: 'concept' in the checkpoint, 'random' now"):
        Trainer(tiny_config(max_steps=2, batch_size=32, group=None), *random, out_dir=tmp_path).fit(resume=True)


def test_safe_settings_may_change(run_copy):
    record = _resume(run_copy, progress=True, num_workers=0, checkpoint_every=2, device="cpu")
    assert record["epochs_run"] == 2 and record["finished"]
    assert set(SAFE_TO_CHANGE) >= {"epochs", "progress", "device"}


def test_fewer_epochs_than_already_run_is_refused(run_copy):
    _resume(run_copy, epochs=2)
    with pytest.raises(ResumeMismatch, match="epochs: 1 now, but the run has already done 2"):
        _resume(run_copy, epochs=1)


def test_cli_resume_with_another_lr_exits_nonzero_listing_it(tmp_path, capsys):
    out = tmp_path / "run"
    assert run_cli(["train", *TRAIN_ARGS, "--epochs", "1", "--lr", "0.01", "--out", out], capsys)[0] == 0
    record = json.loads((out / "record.json").read_text())
    code, _, err = run_cli(["train", *TRAIN_ARGS, "--epochs", "2", "--lr", "0.02", "--seed", "3", "--resume",
                            "--out", out], capsys)
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "lr: 0.01 in the checkpoint, 0.02 now" in err and "seed: 0 in the checkpoint, 3 now" in err
    assert json.loads((out / "record.json").read_text()) == record
    code, _, err = run_cli(["train", *TRAIN_ARGS, "--epochs", "2", "--lr", "0.01", "--resume", "--out", out], capsys)
    assert code == 0, err
    assert json.loads((out / "record.json").read_text())["epochs_run"] == 2
