"""ForeachRAdam: the same bits as torch's per-tensor RAdam, step for step, and the same state."""

import copy

import pytest
import torch

from crossclr_lab.training.radam import ForeachRAdam


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.LayerNorm(12), torch.nn.Linear(12, 24), torch.nn.GELU(), torch.nn.Linear(24, 8))


def _train(model, optimizer, steps: int, start: int = 0, frozen: str | None = None) -> None:
    """``steps`` steps on fixed random batches, with a warm-up on the lr; ``frozen`` parameters get no gradient."""
    for step in range(start, start + steps):
        x = torch.randn(16, 12, generator=torch.Generator().manual_seed(step))
        optimizer.zero_grad(set_to_none=True)
        model(x).pow(2).mean().backward()
        if frozen is not None and step % 2:
            model.get_parameter(frozen).grad = None  # skipped by the step: its step count falls behind
        optimizer.param_groups[0]["lr"] = 1e-2 * min(1.0, (step + 1) / 10)
        optimizer.step()


@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
@pytest.mark.parametrize("frozen", [None, "1.bias"])
def test_steps_are_bit_identical_to_torch_radam(weight_decay, frozen):
    reference, batched = _model(), _model()
    ref_opt = torch.optim.RAdam(reference.parameters(), lr=1e-2, weight_decay=weight_decay, foreach=False)
    opt = ForeachRAdam(batched.parameters(), lr=1e-2, weight_decay=weight_decay)
    _train(reference, ref_opt, 30, frozen=frozen)  # rho_t <= 5 for the first steps, > 5 after: both branches
    _train(batched, opt, 30, frozen=frozen)
    for (name, a), b in zip(reference.named_parameters(), batched.parameters()):
        assert torch.equal(a, b), name
    for a, b in zip(ref_opt.state.values(), opt.state.values()):
        assert all(torch.equal(a[k], b[k]) for k in ("step", "exp_avg", "exp_avg_sq"))


def test_state_moves_between_torch_radam_and_foreach_radam():
    reference, batched = _model(), _model()
    ref_opt = torch.optim.RAdam(reference.parameters(), lr=1e-2, foreach=False)
    _train(reference, ref_opt, 8)
    batched.load_state_dict(reference.state_dict())
    opt = ForeachRAdam(batched.parameters(), lr=1e-2)
    opt.load_state_dict(copy.deepcopy(ref_opt.state_dict()))
    _train(reference, ref_opt, 8, start=8)
    _train(batched, opt, 8, start=8)
    assert all(torch.equal(a, b) for a, b in zip(reference.parameters(), batched.parameters()))
    assert set(opt.state_dict()["param_groups"][0]) == set(ref_opt.state_dict()["param_groups"][0])
