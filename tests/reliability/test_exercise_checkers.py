"""Issue 23, item 8: an exercise checker never hangs on, exits with, or is fooled by the learner's code."""

import importlib.util
import sys
import time

import pytest

import crossclr_lab.losses
from crossclr_lab.lab import exercises
from crossclr_lab.notebooks import NOTEBOOK_DIR

spec = importlib.util.spec_from_file_location("solutions", NOTEBOOK_DIR / "solutions" / "exercises.py")
solutions = importlib.util.module_from_spec(spec)
spec.loader.exec_module(solutions)


def _wrong(feat):
    return feat.sum(1)


def test_an_endless_loop_is_stopped_with_a_took_longer_verdict(monkeypatch, capsys):
    monkeypatch.setattr(exercises, "TIME_LIMIT_S", 0.5)

    def endless(feat):
        while True:
            try:
                pass
            except Exception:   # a learner's broad except does not swallow the time limit
                pass

    start = time.monotonic()
    result = exercises.check_connectivity(endless)
    assert time.monotonic() - start < 10
    assert result.status == "fail" and "took longer than 0.5 s" in result.message
    assert exercises.check_connectivity(solutions.connectivity).passed     # no alarm left behind
    time.sleep(0.6)


def test_sys_exit_in_a_solution_is_a_verdict_not_an_exit():
    result = exercises.check_connectivity(lambda feat: sys.exit(0))
    assert result.status == "fail" and "sys.exit(0)" in result.message


def test_a_solution_that_monkeypatches_the_library_before_the_check_does_not_pass():
    original = crossclr_lab.losses.connectivity
    crossclr_lab.losses.connectivity = lambda x: _wrong(x)       # the reference would now agree with _wrong
    try:
        result = exercises.check_connectivity(_wrong)
    finally:
        patched_back = crossclr_lab.losses.connectivity is original
        crossclr_lab.losses.connectivity = original
    assert result.status == "fail" and "crossclr_lab.losses.connectivity" in result.message
    assert patched_back                                           # the checker put the original back


def test_a_solution_that_monkeypatches_the_library_while_running_does_not_pass():
    original = crossclr_lab.losses.connectivity

    def sneaky(feat):
        crossclr_lab.losses.connectivity = lambda x: _wrong(x)
        return original(feat / feat.norm(dim=1, keepdim=True))  # right answer, library left patched

    result = exercises.check_connectivity(sneaky)
    assert result.status == "fail" and "replaced" in result.message
    assert crossclr_lab.losses.connectivity is original


@pytest.mark.parametrize("name", ["check_connectivity", "check_pruning_mask", "check_recall_at_k"])
def test_the_solutions_still_pass(name):
    fn = {"check_connectivity": solutions.connectivity, "check_pruning_mask": solutions.pruning_mask,
          "check_recall_at_k": solutions.recall_at_k}[name]
    assert getattr(exercises, name)(fn, verbose=False).passed


def test_training_in_between_is_not_taken_for_a_learners_monkeypatch(capsys):
    """torch wraps an optimizer class's ``step`` when its first instance is made (after the checker imported the
    library): that wrapper is not a change of the library."""
    import torch

    from crossclr_lab.training.radam import ForeachRAdam

    original = vars(ForeachRAdam)["step"]
    ForeachRAdam([torch.nn.Parameter(torch.zeros(2))], lr=0.1)
    assert vars(ForeachRAdam)["step"] is not original or getattr(original, "hooked", False)
    assert exercises.check_connectivity(solutions.connectivity).passed
