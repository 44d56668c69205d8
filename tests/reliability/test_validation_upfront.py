"""Issue 12, items 6 and 10: bad settings fail at once in one line, before any folder is touched or data loaded."""

import math

import pytest
import torch
from fixtures.tiny_runs import TRAIN_ARGS, run_cli, tiny_config

from crossclr_lab.losses import LOSSES, build_loss

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("flags, message", [
    (["--batch-size", "1"], "batch_size must be an int >= 2 (a contrastive loss compares the pairs of a batch)"),
    (["--lr", "inf"], "lr must be a finite number > 0, got inf"),
    (["--lr", "nan"], "lr must be a finite number > 0, got nan"),
    (["--lr=-1e-3"], "lr must be a finite number > 0"),
    (["--warmup-epochs", "nan"], "warmup_epochs must be a finite number >= 0"),
    (["--temperature", "0"], "temperature must be a finite number > 0"),
    (["--temperature", "-0.1"], "temperature must be a finite number > 0"),
    (["--seed", "-1"], "seed must be an int >= 0"),
])
def test_train_refuses_bad_flags_before_touching_anything(tmp_path, capsys, monkeypatch, flags, message):
    monkeypatch.setattr("crossclr_lab.cli._load_splits", lambda args: pytest.fail("data was loaded"))
    out = tmp_path / "run"
    code, _, err = run_cli(["train", *TRAIN_ARGS, *flags, "--out", out], capsys)   # the last of a flag wins
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


def test_compare_refuses_bad_flags_before_touching_anything(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("crossclr_lab.cli._load_splits", lambda args: pytest.fail("data was loaded"))
    for flags, message in ((["--lr", "inf"], "lr must be a finite number"), (["--seeds", "0"], "--seeds must be >= 1"),
                           (["--batch-size", "1"], "batch_size must be an int >= 2")):
        code, _, err = run_cli(["compare", "--dataset", "synthetic", *flags, "--out", tmp_path / "cmp"], capsys)
        assert code == 2 and message in err
    assert not (tmp_path / "cmp").exists()


@pytest.mark.parametrize("field, value", [("lr", math.inf), ("lr", math.nan), ("batch_size", 1), ("dropout", 1.0),
                                          ("weight_decay", -1.0), ("grad_clip", 0.0), ("max_steps", 0),
                                          ("plateau_factor", 1.0), ("embed_dim", 0)])
def test_train_config_rejects_unusable_values(field, value):
    with pytest.raises(ValueError, match=field):
        tiny_config(**{field: value})


@pytest.mark.parametrize("name", [n for n, cls in LOSSES.items() if cls.uses_temperature])
@pytest.mark.parametrize("temperature", [-0.1, 0, 0.0, math.nan, math.inf, torch.tensor(-0.5), torch.tensor(0.0),
                                         torch.tensor(math.nan)])
def test_per_call_temperature_is_validated(name, temperature):
    """Item 6 (fixed in the redesign): a negative, zero or non-finite override is refused, never a wrong loss."""
    video, text = torch.randn(6, 8), torch.randn(6, 8)
    with pytest.raises(ValueError, match="temperature must be a finite number > 0"):
        build_loss(name)(video, text, torch.randn(6, 4), torch.randn(6, 4), temperature=temperature)
