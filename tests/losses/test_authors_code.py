"""Where CrossCLRLoss differs from the authors' public code on purpose (the list in its docstring): each test
reproduces the authors' behaviour from our parts and shows the difference."""

import torch
import torch.nn.functional as F

from crossclr_lab.losses import CrossCLRLoss, connectivity, influential


def _batch(b=8, d=5, din=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    v, t = torch.randn(b, d, generator=g, dtype=torch.float64), torch.randn(b, d, generator=g, dtype=torch.float64)
    f = torch.randn(b, din, generator=g, dtype=torch.float64) + 2.0
    return v, t, f


def _authors_connectivity(feat):
    """Their connectivity: the mean raw dot product of the features as passed, self excluded (a loop)."""
    b = len(feat)
    return torch.tensor([sum(float(feat[i] @ feat[j]) for j in range(b) if j != i) / (b - 1) for i in range(b)],
                        dtype=feat.dtype)


def test_connectivity_is_the_cosine_of_normalised_features_not_the_raw_dot_product():
    v, t, f = _batch()
    f = f * torch.linspace(0.5, 3.0, len(f), dtype=f.dtype)[:, None]    # rows of different norms
    parts = CrossCLRLoss().parts(v, t, f, f)
    torch.testing.assert_close(parts.connectivity_video, connectivity(F.normalize(f, dim=1)))
    authors = _authors_connectivity(f)
    torch.testing.assert_close(connectivity(f), authors)                 # our function on raw features = theirs
    assert not torch.allclose(parts.connectivity_video, authors)
    # with features already of unit norm the two agree
    unit = F.normalize(f, dim=1)
    torch.testing.assert_close(CrossCLRLoss().parts(v, t, unit, unit).connectivity_video, _authors_connectivity(unit))


def test_non_positive_connectivity_prunes_nothing_and_weights_uniformly():
    v, t, _ = _batch(b=2)
    f = torch.tensor([[1.0, 0.0], [-1.0, 0.0]], dtype=torch.float64)   # C = -1 for both samples
    parts = CrossCLRLoss(prune_threshold=0.9, weight_temperature=3.5e-3).parts(v, t, f, f)
    conn = parts.connectivity_video
    assert (conn < 0).all() and not parts.influential_video.any()
    torch.testing.assert_close(parts.weight_video, torch.ones(2, dtype=torch.float64))
    # the authors' rule on the same connectivity: C / max C = 1 > γ, so every sample is pruned ...
    assert (conn / conn.max() > 0.9).all()
    # ... and c = C / Σ C is positive for negative C: the weights' order flips against connectivity
    f3 = torch.tensor([[1.0, 0.0], [-1.0, 0.1], [-0.5, -1.0]], dtype=torch.float64)
    c3 = CrossCLRLoss().parts(*_batch(b=3)[:2], f3, f3).connectivity_video
    assert c3.sum() < 0
    authors_weights = torch.exp(c3 / c3.sum() / 3.5e-3)
    assert torch.equal(torch.argsort(authors_weights), torch.argsort(-c3))


def test_gamma_one_prunes_nothing_here_but_the_most_connected_from_intra_there():
    v, t, f = _batch()
    parts = CrossCLRLoss(prune_threshold=1.0).parts(v, t, f, f)
    assert not parts.influential_video.any()
    scaled = parts.connectivity_video / parts.connectivity_video.max()
    authors_intra_removed = scaled >= 1.0                          # their intra rule: keep only Ĉ < γ
    authors_inter_removed = scaled > 1.0                           # their inter rule: prune Ĉ > γ
    assert authors_intra_removed.sum() == 1 and not authors_inter_removed.any()
    assert torch.equal(influential(parts.connectivity_video, 1.0), authors_inter_removed)
    # Their loss on our logits with their intra mask (left out, not ×0) differs from ours at γ = 1.
    b = len(v)
    eye = torch.eye(b, dtype=torch.bool)
    keep_intra = ~eye & ~authors_intra_removed[None, :]
    lse = torch.logsumexp(torch.cat([parts.logits_inter, parts.logits_intra_video.masked_fill(~keep_intra, -1e300)],
                                    dim=1), dim=1)
    theirs = lse - parts.logits_inter.diagonal()
    assert not torch.allclose(theirs, parts.per_sample_video)
    ours = torch.logsumexp(torch.cat([parts.logits_inter, parts.logits_intra_video.masked_fill(eye, -1e300)], dim=1),
                           dim=1) - parts.logits_inter.diagonal()
    torch.testing.assert_close(ours, parts.per_sample_video)
