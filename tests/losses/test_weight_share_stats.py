"""The largest-weight-share statistic: CrossCLR's own weights, uniform and collapsed extremes."""

import numpy as np
import pytest
import torch

from crossclr_lab.data.paired import random_batches
from crossclr_lab.losses import CrossCLRLoss
from crossclr_lab.losses.weight_share import batch_weight_shares, weight_share_stats


def test_identical_connectivity_gives_uniform_weights():
    feat = torch.ones(128, 5)                                   # every cosine is 1: equal connectivity
    stats = weight_share_stats(feat, batch_size=64, epochs=2)
    assert stats["batches"] == 4 and stats["median"] == pytest.approx(1 / 64, rel=1e-5)
    assert stats["uniform"] == 1 / 64 and stats["fallback_fraction"] == 0


def test_centred_features_collapse_and_non_negative_features_do_not():
    x = torch.randn(640, 32, generator=torch.Generator().manual_seed(0))
    centred, nearly, relu = (weight_share_stats(f) for f in (x, x + 0.1, x.abs()))
    assert centred["fallback_fraction"] > 0.3                   # Σ C <= 0 often: the loss falls back to uniform
    assert centred["median_weighted"] > 0.5                     # ... and the other batches collapse
    assert nearly["median"] > 0.5 and nearly["fallback_fraction"] < 0.2   # Σ C small and positive: one sample wins
    assert 1 / 64 < relu["median"] < 0.05 and relu["fallback_fraction"] == 0   # non-negative, like ReLU features
    assert relu["p10"] <= relu["median"] <= relu["p90"]


def test_shares_are_the_losses_own_weights():
    feat = torch.randn(64, 8, generator=torch.Generator().manual_seed(1)) + 0.5
    batches = random_batches(64, 64, seed=0)
    shares, fallback, pruned = batch_weight_shares(feat, batches, weight_temperature=0.05)
    emb = torch.randn(64, 4)
    w = CrossCLRLoss(weight_temperature=0.05).parts(emb, emb, feat[batches[0]], feat[batches[0]]).weight_video
    assert shares[0] == pytest.approx(float(w.max() / w.sum()), rel=1e-6) and not fallback[0]
    infl = CrossCLRLoss().parts(emb, emb, feat[batches[0]], feat[batches[0]]).influential_video
    assert pruned[0] == pytest.approx(float(infl.float().mean()))
    assert np.isclose(weight_share_stats(feat, batch_size=64, epochs=1, weight_temperature=1e6)["median"], 1 / 64)
    with pytest.raises(ValueError, match="epochs"):
        weight_share_stats(feat, epochs=0)


def test_pruned_share_brute_force_and_near_equal_connectivity():
    g = torch.Generator().manual_seed(3)
    spread = torch.randn(128, 16, generator=g)                            # cosines around 0: Ĉ spread out
    near_equal = torch.ones(128, 16) + 0.01 * torch.randn(128, 16, generator=g)   # every C_i ≈ the same
    for feat, most in ((spread, False), (near_equal, True)):
        st = weight_share_stats(feat, batch_size=64, epochs=2)
        batches = [b for e in range(2) for b in random_batches(128, 64, seed=e)]
        by_hand = []
        for idx in batches:                                              # Ĉ = C / max C > γ, by hand
            x = torch.nn.functional.normalize(feat[torch.as_tensor(idx)], dim=1)
            c = ((x @ x.T).sum(1) - 1) / (len(idx) - 1)
            by_hand.append(float(((c / c.max() > 0.9) & (c.max() > 0)).float().mean()))
        assert st["pruned_median"] == pytest.approx(float(np.median(by_hand)), abs=1e-6)
        assert (st["pruned_most"] == 1.0) if most else (st["pruned_most"] == 0.0)
