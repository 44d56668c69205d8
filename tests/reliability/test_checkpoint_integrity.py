"""Issue 12, item 1: a damaged checkpoint is refused with a message naming it, never loaded and never silently
replaced by a fresh start."""

import shutil

import pytest
import torch
from fixtures.tiny_runs import TRAIN_ARGS, flip_bytes, run_cli, tiny_config, tiny_splits

from crossclr_lab.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from crossclr_lab.training.trainer import Trainer

pytestmark = pytest.mark.usefixtures("one_thread")


def _resume(out):
    trainer = Trainer(tiny_config(epochs=2), *tiny_splits(), out_dir=out)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    return trainer, before


@pytest.mark.parametrize("where, count", [(0.5, 8), (0.3, 64), (0.8, 16)])
def test_flipped_payload_bytes_are_refused_naming_the_file(run_copy, where, count):
    path = run_copy / "checkpoint.pt"
    flip_bytes(path, int(path.stat().st_size * where), count)
    trainer, before = _resume(run_copy)
    with pytest.raises(CheckpointError, match=str(path)) as err:
        trainer.fit(resume=True)
    assert "damaged" in str(err.value) and "--overwrite" in str(err.value)
    # nothing was loaded into the model and the damaged run was not replaced
    assert all(torch.equal(before[k], v) for k, v in trainer.model.state_dict().items())
    assert path.exists() and (run_copy / "record.json").exists()


def test_any_flip_is_refused_or_harmless(finished_run, tmp_path):
    """Wherever 8 bytes are flipped (zip headers, pickle, tensor data, central directory), loading either fails
    with CheckpointError or returns exactly the saved state: never different values."""
    original = load_checkpoint(finished_run / "checkpoint.pt")
    size = (finished_run / "checkpoint.pt").stat().st_size
    refused = 0
    for offset in range(0, size - 8, max(1, size // 40)):
        path = tmp_path / f"c{offset}.pt"
        shutil.copy(finished_run / "checkpoint.pt", path)
        flip_bytes(path, offset, 8)
        try:
            state = load_checkpoint(path)
        except CheckpointError as err:
            assert str(path) in str(err)
            refused += 1
            continue
        for key, value in original["model"].items():
            assert torch.equal(state["model"][key], value), f"flip at {offset} changed {key} silently"
    assert refused >= 30


def test_truncated_and_foreign_files_are_refused(run_copy, tmp_path):
    path = run_copy / "checkpoint.pt"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_checkpoint(path)
    torch.save({"model": {}}, tmp_path / "plain.pt")  # an unchecked torch file (e.g. an older version's)
    with pytest.raises(CheckpointError, match="not a checksummed crossclr_lab checkpoint"):
        load_checkpoint(tmp_path / "plain.pt")


def test_round_trip_keeps_every_value(tmp_path):
    state = {"w": torch.randn(5, 3), "step": 7, "nested": {"x": [1.5, None, "a"]}}
    save_checkpoint(state, tmp_path / "c.pt")
    loaded = load_checkpoint(tmp_path / "c.pt")
    assert torch.equal(loaded["w"], state["w"]) and loaded["step"] == 7 and loaded["nested"] == state["nested"]


def test_cli_resume_of_a_damaged_checkpoint_exits_nonzero_naming_it(tmp_path, capsys):
    out = tmp_path / "run"
    code, _, err = run_cli(["train", *TRAIN_ARGS, "--epochs", "1", "--out", out], capsys)
    assert code == 0, err
    record = (out / "record.json").read_bytes()
    path = out / "checkpoint.pt"
    flip_bytes(path, path.stat().st_size // 2, 32)
    code, _, err = run_cli(["train", *TRAIN_ARGS, "--epochs", "2", "--resume", "--out", out], capsys)
    assert code == 1
    assert str(path) in err and "damaged" in err and len(err.strip().splitlines()) == 1
    assert (out / "record.json").read_bytes() == record  # the earlier record is untouched
