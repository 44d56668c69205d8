"""Exercise checkers pass the solutions, fail wrong solutions with the right hint, and never raise for a stub."""

import importlib.util

import pytest
import torch
import torch.nn.functional as F

from crossclr_lab.lab import exercises
from crossclr_lab.notebooks import NOTEBOOK_DIR

spec = importlib.util.spec_from_file_location("solutions", NOTEBOOK_DIR / "solutions" / "exercises.py")
solutions = importlib.util.module_from_spec(spec)
spec.loader.exec_module(solutions)

CHECKS = {  # checker -> the solution it must pass
    "check_connectivity": solutions.connectivity,
    "check_pruning_mask": solutions.pruning_mask,
    "check_anchor_loss": solutions.anchor_loss,
    "check_paired_difference": solutions.paired_difference,
    "check_tightness_ratio": solutions.tightness_ratio,
    "check_recall_at_k": solutions.recall_at_k,
    "check_repetition": solutions.repetition_at_4,
    "check_weight_share": solutions.largest_weight_share,
}


def _cos(x):
    x = F.normalize(x, dim=1)
    return x @ x.T


def _anchor_lambda_on_logit(v, t, i, tau, lam, pruned):
    v, t = F.normalize(v, dim=1), F.normalize(t, dim=1)
    keep = (torch.arange(len(v)) != i) & ~pruned
    pos = torch.exp(v[i] @ t[i] / tau)
    return float(-torch.log(pos / (pos + torch.exp(v[i] @ t[keep].T / tau).sum()
                                   + torch.exp(lam * v[i] @ v[keep].T / tau).sum())))


def _anchor_self_in_intra(v, t, i, tau, lam, pruned):
    v, t = F.normalize(v, dim=1), F.normalize(t, dim=1)
    keep = (torch.arange(len(v)) != i) & ~pruned
    pos = torch.exp(v[i] @ t[i] / tau)
    intra = lam * torch.exp(v[i] @ v[~pruned | (torch.arange(len(v)) == i)].T / tau).sum()
    return float(-torch.log(pos / (pos + torch.exp(v[i] @ t[keep].T / tau).sum() + intra)))


def _anchor_unnormalised(v, t, i, tau, lam, pruned):
    keep = (torch.arange(len(v)) != i) & ~pruned
    pos = torch.exp(v[i] @ t[i] / tau)
    return float(-torch.log(pos / (pos + torch.exp(v[i] @ t[keep].T / tau).sum()
                                   + lam * torch.exp(v[i] @ v[keep].T / tau).sum())))


def _paired_two_sem(a, b):
    mean, sem, _ = solutions.paired_difference(a, b)
    return mean, sem, len(a) >= 3 and abs(mean) > 2 * sem


def _re4_pooled(captions):
    grams = [tuple(c.split()[i:i + 4]) for c in captions for i in range(len(c.split()) - 3)]
    return 100.0 * (len(grams) - len(set(grams))) / len(grams)


def _re4_distinct_denominator(captions):
    out = []
    for c in captions:
        g = [tuple(c.split()[i:i + 4]) for i in range(len(c.split()) - 3)]
        out.append((len(g) - len(set(g))) / len(set(g)) if g else 0.0)
    return 100.0 * sum(out) / len(out)


def _conn(feat, normalise=True):
    x = F.normalize(feat, dim=1) if normalise else feat
    sims = x @ x.T
    return (sims.sum(1) - sims.diagonal()) / (len(x) - 1)


def _share_without_sum(feat, kappa):
    c = _conn(feat)
    return 1 / len(c) if c.sum() <= 0 else float(torch.softmax(c / kappa, 0).max())


def _share_no_fallback(feat, kappa):
    c = _conn(feat)
    return float(torch.softmax(c / c.sum() / kappa, 0).max())


def _share_unnormalised(feat, kappa):
    c = _conn(feat, normalise=False)
    return 1 / len(c) if c.sum() <= 0 else float(torch.softmax(c / c.sum() / kappa, 0).max())


WRONG = [  # (checker, a wrong solution, a phrase of the hint it must get)
    ("check_connectivity", lambda f: _cos(f).sum(1) / len(f), "leave the sample itself out"),
    ("check_connectivity", lambda f: (_cos(f).sum(1) - 1) / len(f), "divide by B − 1"),
    ("check_connectivity", lambda f: ((f @ f.T).sum(1) - (f * f).sum(1)) / (len(f) - 1), "L2-normalise"),
    ("check_pruning_mask", lambda c, g: c / c.max() >= g, "strict"),
    ("check_pruning_mask", lambda c, g: c > g, "divide by the batch maximum"),
    ("check_anchor_loss", _anchor_lambda_on_logit, "λ multiplies δ"),
    ("check_anchor_loss", _anchor_self_in_intra, "leave the anchor itself out"),
    ("check_paired_difference", lambda a, b: solutions.paired_difference(b, a), "a − b"),
    ("check_paired_difference", _paired_two_sem, "critical t"),
    ("check_anchor_loss", _anchor_unnormalised, "L2-normalise v and t"),
    ("check_tightness_ratio", lambda e, lab: 1 / solutions.tightness_ratio(e, lab), "not inter / intra"),
    ("check_recall_at_k", lambda v, t, k: solutions.recall_at_k(t, v, k), "each *caption*"),
    ("check_recall_at_k", lambda v, t, k: solutions.recall_at_k(v, t, k) / 100, "percentage"),
    ("check_repetition", lambda c: solutions.repetition_at_4(c) / 100, "x100"),
    ("check_repetition", _re4_pooled, "score each caption on its own"),
    ("check_repetition", _re4_distinct_denominator, "not by the distinct 4-grams"),
    ("check_weight_share", _share_without_sum, "divide the connectivity by its batch sum"),
    ("check_weight_share", _share_no_fallback, "uniform weights"),
    ("check_weight_share", _share_unnormalised, "L2-normalise the rows"),
]


@pytest.mark.parametrize("name", list(CHECKS))
def test_solutions_pass(name, capsys):
    result = getattr(exercises, name)(CHECKS[name])
    assert result.passed and result.status == "pass"
    assert capsys.readouterr().out.startswith(f"PASS {name}")


@pytest.mark.parametrize("name", list(CHECKS))
def test_stubs_are_not_yet_implemented_and_never_raise(name, capsys):
    def stub(*args):
        raise NotImplementedError

    result = getattr(exercises, name)(stub)
    assert result.status == "todo" and not result
    assert "NOT YET IMPLEMENTED" in capsys.readouterr().out
    assert getattr(exercises, name)(lambda *args: None, verbose=False).status == "todo"


@pytest.mark.parametrize("name, wrong, hint", WRONG, ids=[f"{w[0]}-{i}" for i, w in enumerate(WRONG)])
def test_wrong_solutions_fail_with_a_hint(name, wrong, hint, capsys):
    result = getattr(exercises, name)(wrong)
    assert result.status == "fail"
    assert hint in result.message, result.message
    assert capsys.readouterr().out.startswith(f"MISMATCH {name}")


def test_a_crashing_solution_is_reported_not_raised():
    result = exercises.check_connectivity(lambda feat: feat[100], verbose=False)
    assert result.status == "fail" and "IndexError" in result.message
    result = exercises.check_anchor_loss(lambda v, t: 0.0, verbose=False)
    assert result.status == "fail" and "fn(v, t, i, tau, lam, pruned)" in result.message


def _float32(fn):
    """``fn`` computed in float32 torch, its numbers returned as float32 tensors."""
    def wrapped(*args):
        args = [x.float() if isinstance(x, torch.Tensor) and x.is_floating_point() else
                torch.tensor(x, dtype=torch.float32) if isinstance(x, list) and isinstance(x[0], float) else x
                for x in args]
        out = fn(*args)
        return tuple(torch.as_tensor(x, dtype=torch.float32) if not isinstance(x, bool) else x for x in out) \
            if isinstance(out, tuple) else torch.as_tensor(out, dtype=torch.float32)
    return wrapped


@pytest.mark.parametrize("name", ["check_paired_difference", "check_anchor_loss", "check_connectivity",
                                  "check_recall_at_k", "check_tightness_ratio", "check_weight_share"])
def test_float32_answers_pass(name):
    result = getattr(exercises, name)(_float32(CHECKS[name]), verbose=False)
    assert result.passed, result.message
