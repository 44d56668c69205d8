"""Notebook 00's companion: toy pairs, the τ table against a brute-force soft-max, verdicts that hold their table."""

import math

import pytest
import torch

from crossclr_lab.lab import primer
from crossclr_lab.lab.findings import check_claims
from crossclr_lab.losses import InfoNCELoss


def test_table_matches_a_brute_force_softmax_and_the_library():
    v, t = primer.toy_pairs(5, noise=0.5, seed=1)
    table = primer.temperature_table(v, t, [1.0, 0.1])
    for row, tau in zip(table.rows, (1.0, 0.1)):
        vn, tn = v / v.norm(dim=1, keepdim=True), t / t.norm(dim=1, keepdim=True)
        p = [[math.exp(float(vn[i] @ tn[k]) / tau) for k in range(5)] for i in range(5)]
        p = [[x / sum(r) for x in r] for r in p]
        assert float(row[1]) == pytest.approx(sum(p[i][i] for i in range(5)) / 5, abs=5e-4)
        assert float(row[2]) == pytest.approx(max(p[i][k] for i in range(5) for k in range(5) if i != k), abs=5e-4)
        assert float(row[3]) == pytest.approx(float(InfoNCELoss(temperature=tau)(v, t)), abs=5e-4)


@pytest.mark.parametrize("noise, seed", [(0.05, 0), (0.35, 0), (1.0, 3)])
def test_verdict_holds_its_table_and_names_the_misranked_videos(noise, seed):
    v, t = primer.toy_pairs(6, noise=noise, seed=seed)
    taus = [1.0, 0.3, 0.03]
    verdict = primer.temperature_verdict(v, t, taus)
    assert check_claims({"temperature": primer.temperature_table(v, t, taus).markdown()}, verdict) == []
    sims = torch.nn.functional.normalize(v, dim=1) @ torch.nn.functional.normalize(t, dim=1).T
    wrong = [i for i in range(6) if int(sims[i].argmax()) != i]
    assert ("closer to another caption" in verdict.text) == bool(wrong)
    assert ("falls toward 0" in verdict.text) == (not wrong)


def test_toy_pairs_need_two_pairs():
    with pytest.raises(ValueError, match="at least 2 pairs"):
        primer.toy_pairs(1)
