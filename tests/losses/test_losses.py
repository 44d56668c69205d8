"""The vectorised losses against their loop-by-loop references, plus invariants and edge cases."""

import itertools
import math

import pytest
import torch
from reference import (
    QueueReference,
    crossclr_reference,
    dcl_reference,
    infonce_reference,
    max_margin_reference,
    mil_nce_reference,
    nt_xent_reference,
)

from crossclr_lab.losses import (
    LOSSES,
    CrossCLRLoss,
    DebiasedContrastiveLoss,
    InfoNCELoss,
    MaxMarginLoss,
    MILNCELoss,
    NTXentLoss,
    build_loss,
)

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def batch(b, d, din=(7, 5), seed=0, dtype=torch.float64, structured=True):
    """Random embeddings and input features; ``structured`` gives features a few shared directions so that
    connectivity varies and pruning has something to do."""
    g = torch.Generator().manual_seed(seed)
    v = torch.randn(b, d, generator=g, dtype=dtype)
    t = torch.randn(b, d, generator=g, dtype=dtype)
    feats = []
    for dim in din:
        f = torch.randn(b, dim, generator=g, dtype=dtype)
        if structured:
            f = f + 2.0 * torch.randn(1, dim, generator=g, dtype=dtype) * torch.rand(b, 1, generator=g, dtype=dtype)
        feats.append(f)
    return v, t, feats[0], feats[1]


def close(actual, expected, tol=1e-6):
    assert actual == pytest.approx(expected, rel=tol, abs=tol)


# --- CrossCLR against the reference --------------------------------------------------------------------
GRID = list(itertools.product([2, 5, 9], [3, 16], [0.03, 0.1, 1.0], [0.0, 0.5, 1.0], [None, 0.5, 0.9, 1.0],
                              [None, 3.5e-3, 0.5]))


@pytest.mark.parametrize("b,d,tau,lam,gamma,kappa", GRID[::3])
def test_crossclr_matches_reference_grid(b, d, tau, lam, gamma, kappa):
    v, t, vf, tf = batch(b, d, seed=b * 100 + d)
    loss_fn = CrossCLRLoss(temperature=tau, intra_weight=lam, prune_threshold=gamma, weight_temperature=kappa)
    parts = loss_fn(v, t, vf, tf, return_parts=True)
    ref = crossclr_reference(v, t, vf, tf, tau=tau, lam=lam, gamma=gamma, kappa=kappa)
    for key in ("loss", "loss_video", "loss_text"):
        close(getattr(parts, key).item(), ref[key])
    assert parts.per_sample_video.tolist() == pytest.approx(ref["per_sample_video"], rel=1e-6)
    assert parts.influential_video.tolist() == ref["influential_video"]
    if gamma is not None or kappa is not None:
        assert parts.connectivity_text.tolist() == pytest.approx(ref["connectivity_text"], rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("mode", ["similarity", "logits"])
@pytest.mark.parametrize("queue_size,b", [(4, 3), (7, 3), (16, 5), (2, 5)])
def test_crossclr_queue_matches_reference_over_steps(queue_size, b, mode):
    loss_fn = CrossCLRLoss(temperature=0.1, intra_weight=0.8, prune_threshold=0.9, weight_temperature=0.5,
                           queue_size=queue_size, intra_weight_on=mode)
    queue = QueueReference(queue_size)
    for step in range(5):
        v, t, vf, tf = batch(b, 6, seed=step)
        parts = loss_fn(v, t, vf, tf, return_parts=True)
        ref = crossclr_reference(v, t, vf, tf, queue=queue.state, tau=0.1, lam=0.8, gamma=0.9, kappa=0.5,
                                 intra_weight_on=mode)
        close(parts.loss.item(), ref["loss"])
        assert int(parts.queue_filled) == len(queue.state["video"])
        queue.push(v, t, vf, tf)


def test_crossclr_every_negative_pruned():
    # Identical input features: every sample is equally connected, so Ĉ = 1 > γ for all and both negative
    # sets are empty: the loss is -log(δ_pos / δ_pos) = 0 exactly.
    v, t, _, _ = batch(6, 8)
    feat = torch.ones(6, 4, dtype=torch.float64)
    parts = CrossCLRLoss(prune_threshold=0.5)(v, t, feat, feat, return_parts=True)
    assert parts.influential_video.all() and parts.influential_text.all()
    assert parts.loss.item() == 0.0
    ref = crossclr_reference(v, t, feat, feat, gamma=0.5)
    close(parts.loss.item(), ref["loss"])


def test_crossclr_all_pruned_gradients_are_finite():
    v, t, _, _ = batch(6, 8)
    v.requires_grad_(True)
    feat = torch.ones(6, 4, dtype=torch.float64)
    CrossCLRLoss(prune_threshold=0.5, queue_size=0)(v, t, feat, feat).backward()
    assert torch.isfinite(v.grad).all()


def test_masked_entries_are_left_out_not_zeroed():
    # With pruning, the denominator must not gain exp(0) = 1 per pruned entry (the public code's bug).
    v, t, vf, tf = batch(8, 4)
    parts = CrossCLRLoss(intra_weight=0.0, prune_threshold=0.3, weight_temperature=None)(v, t, vf, tf,
                                                                                          return_parts=True)
    assert parts.influential_video.any()
    logits = parts.logits_inter
    keep = parts.inter_mask_video | torch.eye(8, dtype=torch.bool)
    expected = (torch.logsumexp(logits.masked_fill(~keep, float("-inf")), 1) - logits.diagonal()).mean()
    close(parts.loss_video.item(), expected.item())


def test_crossclr_all_off_equals_infonce():
    for seed, tau in [(0, 0.03), (1, 0.07), (2, 1.0)]:
        v, t, vf, tf = batch(12, 32, seed=seed)
        off = CrossCLRLoss(temperature=tau, intra_weight=0, prune_threshold=None, weight_temperature=None,
                           queue_size=0)
        a, b = off(v, t, return_parts=True), InfoNCELoss(temperature=tau)(v, t, return_parts=True)
        for key in ("loss", "loss_video", "loss_text"):
            torch.testing.assert_close(getattr(a, key), getattr(b, key), rtol=1e-12, atol=1e-12)


def test_gamma_one_means_no_pruning():
    v, t, vf, tf = batch(10, 8)
    parts = CrossCLRLoss(prune_threshold=1.0)(v, t, vf, tf, return_parts=True)
    assert not parts.influential_video.any() and not parts.influential_text.any()
    none = CrossCLRLoss(prune_threshold=None)(v, t, vf, tf)
    close(parts.loss.item(), none.item(), 1e-12)


def test_logits_mode_differs_from_similarity_mode():
    v, t, vf, tf = batch(8, 8)
    a = CrossCLRLoss(intra_weight_on="similarity", temperature=0.1)(v, t, vf, tf)
    b = CrossCLRLoss(intra_weight_on="logits", temperature=0.1)(v, t, vf, tf)
    assert abs(a.item() - b.item()) > 1e-3


def test_weights_follow_connectivity():
    v, t, vf, tf = batch(16, 8)
    parts = CrossCLRLoss(weight_temperature=0.05, prune_threshold=None)(v, t, vf, tf, return_parts=True)
    w, c = parts.weight_video, parts.connectivity_video
    close(w.mean().item(), 1.0, 1e-9)
    assert torch.equal(torch.argsort(w), torch.argsort(c))


def test_queue_is_buffer_and_not_updated_in_eval():
    loss_fn = CrossCLRLoss(queue_size=8)
    v, t, vf, tf = batch(4, 6)
    loss_fn(v, t, vf, tf)
    assert int(loss_fn.queue.filled) == 4
    state = {k: x.clone() for k, x in loss_fn.state_dict().items()}
    assert {"queue.video", "queue.text", "queue.video_feat", "queue.text_feat", "queue.ptr"} <= set(state)
    loss_fn.eval()
    loss_fn(v, t, vf, tf)
    assert int(loss_fn.queue.filled) == 4
    fresh = CrossCLRLoss(queue_size=8)
    fresh.load_state_dict(state)
    torch.testing.assert_close(fresh(v, t, vf, tf), loss_fn.train()(v, t, vf, tf))
    loss_fn.reset_queue()
    assert int(loss_fn.queue.filled) == 0 and loss_fn.queue.video.numel() == 0


def test_backward_after_enqueue_over_steps():
    loss_fn = CrossCLRLoss(queue_size=6)
    for step in range(3):
        v, t, vf, tf = batch(4, 5, seed=step)
        v.requires_grad_(True)
        loss_fn(v, t, vf, tf).backward()          # the in-place enqueue must not break autograd
        assert torch.isfinite(v.grad).all()


def test_queue_entries_carry_no_gradient():
    loss_fn = CrossCLRLoss(queue_size=8)
    v, t, vf, tf = batch(4, 6, dtype=torch.float32)
    v.requires_grad_(True)
    loss_fn(v, t, vf, tf)
    assert not loss_fn.queue.video.requires_grad


# --- baselines against their references ---------------------------------------------------------------
@pytest.mark.parametrize("b,d,tau", [(2, 3, 0.05), (7, 8, 0.1), (12, 16, 1.0)])
def test_baselines_match_reference(b, d, tau):
    v, t, _, _ = batch(b, d, seed=b)
    cases = [(InfoNCELoss(temperature=tau), infonce_reference(v, t, tau)),
             (NTXentLoss(temperature=tau), nt_xent_reference(v, t, tau)),
             (MILNCELoss(temperature=tau), mil_nce_reference(v, t, tau)),
             (DebiasedContrastiveLoss(temperature=tau, tau_plus=0.1), dcl_reference(v, t, tau, 0.1)),
             (DebiasedContrastiveLoss(temperature=tau, tau_plus=0.5), dcl_reference(v, t, tau, 0.5)),
             (MaxMarginLoss(margin=0.2), max_margin_reference(v, t, 0.2, "sum")),
             (MaxMarginLoss(margin=0.2, reduction="hardest"), max_margin_reference(v, t, 0.2, "hardest"))]
    for loss_fn, ref in cases:
        parts = loss_fn(v, t, return_parts=True)
        for key in ("loss", "loss_video", "loss_text"):
            assert getattr(parts, key).item() == pytest.approx(ref[key], rel=1e-6), (loss_fn, key)


def test_debiased_with_zero_prior_equals_infonce():
    v, t, _, _ = batch(10, 8)
    torch.testing.assert_close(DebiasedContrastiveLoss(tau_plus=0.0, temperature=0.2)(v, t),
                               InfoNCELoss(temperature=0.2)(v, t))


# --- invariants ----------------------------------------------------------------------------------------
def all_losses():
    return [CrossCLRLoss(temperature=0.1, weight_temperature=0.5), InfoNCELoss(), NTXentLoss(), MaxMarginLoss(),
            MaxMarginLoss(reduction="hardest"), MILNCELoss(), DebiasedContrastiveLoss()]


@pytest.mark.parametrize("loss_fn", all_losses(), ids=lambda fn: type(fn).__name__ + repr(getattr(fn, "reduction", "")))
def test_swapping_modalities_swaps_sides(loss_fn):
    v, t, vf, tf = batch(9, 8, din=(6, 6))
    a = loss_fn(v, t, vf, tf, return_parts=True)
    b = loss_fn(t, v, tf, vf, return_parts=True)
    torch.testing.assert_close(a.loss_video, b.loss_text)
    torch.testing.assert_close(a.loss_text, b.loss_video)
    torch.testing.assert_close(a.loss, b.loss)


@pytest.mark.parametrize("loss_fn", all_losses(), ids=lambda fn: type(fn).__name__)
def test_permuting_the_batch_leaves_loss_unchanged(loss_fn):
    v, t, vf, tf = batch(9, 8)
    perm = torch.randperm(9, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(loss_fn(v, t, vf, tf), loss_fn(v[perm], t[perm], vf[perm], tf[perm]))


@pytest.mark.parametrize("loss_fn", all_losses(), ids=lambda fn: type(fn).__name__)
def test_gradcheck_float64(loss_fn):
    v, t, vf, tf = batch(5, 4)
    v.requires_grad_(True)
    t.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a, b: loss_fn(a, b, vf, tf), (v, t))


def test_gradcheck_crossclr_with_queue_and_logits_mode():
    loss_fn = CrossCLRLoss(temperature=0.2, queue_size=6, intra_weight_on="logits", weight_temperature=0.3).eval()
    v0, t0, vf0, tf0 = batch(4, 4, seed=9)
    loss_fn.train()(v0, t0, vf0, tf0)
    loss_fn.eval()
    v, t, vf, tf = batch(5, 4)
    v.requires_grad_(True)
    t.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a, b: loss_fn(a, b, vf, tf), (v, t))


def test_scale_invariance_of_embeddings():
    v, t, vf, tf = batch(6, 5)
    loss_fn = CrossCLRLoss()
    torch.testing.assert_close(loss_fn(v, t, vf, tf), loss_fn(3 * v, 0.5 * t, vf, tf))


def test_perfect_alignment_analytic_value():
    # Orthonormal pairs v_i = t_i = e_i, all off: s_ii = 1, s_ik = 0, so L = log(1 + (B-1)·e^{-1/τ}) + 0.
    b, tau = 4, 0.5
    e = torch.eye(b, dtype=torch.float64)
    expected = math.log(1 + (b - 1) * math.exp(-1 / tau))
    close(InfoNCELoss(temperature=tau)(e, e).item(), expected, 1e-12)
    # with intra negatives (similarity mode): (B-1)·λ·e^{0} more in the denominator
    lam = 0.5
    expected = math.log(math.exp(1 / tau) + (b - 1) + lam * (b - 1)) - 1 / tau
    got = CrossCLRLoss(temperature=tau, intra_weight=lam, prune_threshold=None, weight_temperature=None)(e, e)
    close(got.item(), expected, 1e-12)


# --- numerics and devices ------------------------------------------------------------------------------
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_device_dtype_grid(device, dtype):
    v, t, vf, tf = (x.to(device=device, dtype=dtype) for x in batch(32, 16))
    ref = None
    for name in LOSSES:
        out = build_loss(name, queue_size=16) if name == "crossclr" else build_loss(name)
        out = out.to(device)
        value = out(v, t, vf, tf)
        assert value.device.type == device and torch.isfinite(value)
    ref = CrossCLRLoss()(*(x.double().cpu() for x in (v, t, vf, tf)))
    got = CrossCLRLoss().to(device)(v, t, vf, tf)
    assert got.item() == pytest.approx(ref.item(), rel=1e-4)


def test_stable_at_low_temperature_float32():
    v, t, vf, tf = (x.float() for x in batch(64, 32))
    v.requires_grad_(True)
    for name in LOSSES:
        loss_fn = build_loss(name, temperature=0.01) if name != "max_margin" else build_loss(name)
        value = loss_fn(v, t, vf, tf)
        value.backward()
        assert torch.isfinite(value) and torch.isfinite(v.grad).all(), name
        v.grad = None


def test_bf16_autocast_close_to_float32():
    v, t, vf, tf = (x.float() for x in batch(64, 32))
    loss_fn = CrossCLRLoss(temperature=0.01, queue_size=0)
    ref = loss_fn(v, t, vf, tf)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = loss_fn(v, t, vf, tf)
    assert torch.isfinite(got)
    assert got.item() == pytest.approx(ref.item(), rel=0.05)


# --- bad input and bad parameters ----------------------------------------------------------------------
@pytest.mark.parametrize("kwargs,match", [
    ({"temperature": 0}, "temperature"), ({"temperature": -1}, "temperature"),
    ({"temperature": float("nan")}, "temperature"), ({"intra_weight": -0.1}, "intra_weight"),
    ({"prune_threshold": 0}, "prune_threshold"), ({"prune_threshold": 1.5}, "prune_threshold"),
    ({"weight_temperature": 0}, "weight_temperature"), ({"queue_size": -1}, "queue_size"),
    ({"queue_size": 2.5}, "queue_size"), ({"intra_weight_on": "both"}, "intra_weight_on")])
def test_crossclr_rejects_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CrossCLRLoss(**kwargs)


def test_baselines_reject_bad_parameters():
    with pytest.raises(ValueError, match="tau_plus"):
        DebiasedContrastiveLoss(tau_plus=1.0)
    with pytest.raises(ValueError, match="margin"):
        MaxMarginLoss(margin=0)
    with pytest.raises(ValueError, match="reduction"):
        MaxMarginLoss(reduction="mean")
    with pytest.raises(ValueError, match="choose one of"):
        build_loss("clip")
    with pytest.raises(ValueError, match="bad arguments"):
        build_loss("infonce", intra_weight=0.5)


@pytest.mark.parametrize("loss_fn", all_losses(), ids=lambda fn: type(fn).__name__)
def test_bad_inputs_raise_clear_errors(loss_fn):
    v, t, vf, tf = batch(6, 4)
    with pytest.raises(ValueError, match="same shape"):
        loss_fn(v, t[:5], vf, tf)
    with pytest.raises(ValueError, match="at least 2"):
        loss_fn(v[:1], t[:1], vf[:1], tf[:1])
    with pytest.raises(ValueError, match="at least 2"):
        loss_fn(v[:0], t[:0], vf[:0], tf[:0])
    with pytest.raises(ValueError, match=r"\[B, D\]"):
        loss_fn(v[None], t[None], vf, tf)
    bad = v.clone()
    bad[2, 1] = float("nan")
    with pytest.raises(ValueError, match="NaN or Inf"):
        loss_fn(bad, t, vf, tf)
    bad[2, 1] = float("inf")
    with pytest.raises(ValueError, match="NaN or Inf"):
        loss_fn(v, bad, vf, tf)


def test_crossclr_feature_errors():
    v, t, vf, tf = batch(6, 4)
    with pytest.raises(ValueError, match="video_feat is required"):
        CrossCLRLoss()(v, t)
    with pytest.raises(ValueError, match=r"text_feat must have shape \[B=6"):
        CrossCLRLoss()(v, t, vf, tf[:4])
    bad = vf.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(ValueError, match="video_feat contains NaN"):
        CrossCLRLoss()(v, t, bad, tf)
    # features are not needed when neither pruning nor weighting is on
    CrossCLRLoss(prune_threshold=None, weight_temperature=None)(v, t)
    loss_fn = CrossCLRLoss(queue_size=10)
    loss_fn(v, t, vf, tf)
    with pytest.raises(ValueError, match="reset_queue"):
        loss_fn(v, t, torch.randn(6, 3, dtype=v.dtype), tf)


def test_learnable_temperature_override_gets_gradient():
    v, t, vf, tf = batch(6, 4)
    log_tau = torch.tensor(math.log(0.07), dtype=torch.float64, requires_grad=True)
    for loss_fn in (InfoNCELoss(), CrossCLRLoss()):
        loss_fn(v, t, vf, tf, temperature=log_tau.exp()).backward()
        assert log_tau.grad is not None and log_tau.grad != 0
        log_tau.grad = None


@pytest.mark.parametrize("mode", ["similarity", "logits"])
@pytest.mark.parametrize("chunk", [1, 3, 7])
def test_chunked_equals_unchunked_values_and_gradients(chunk, mode):
    kwargs = dict(temperature=0.1, prune_threshold=0.7, weight_temperature=0.5, queue_size=6, intra_weight_on=mode)
    whole, chunked = CrossCLRLoss(**kwargs), CrossCLRLoss(chunk_size=chunk, **kwargs)
    for step in range(3):
        v, t, vf, tf = batch(8, 5, seed=step)
        grads = []
        for loss_fn in (whole, chunked):
            a, b = v.clone().requires_grad_(True), t.clone().requires_grad_(True)
            parts = loss_fn(a, b, vf, tf, return_parts=True)
            parts.loss.backward()
            grads.append((parts, a.grad, b.grad))
        (p1, gv1, gt1), (p2, gv2, gt2) = grads
        assert p1.influential_video.any()
        for key in ("loss", "loss_video", "loss_text", "per_sample_video", "per_sample_text"):
            torch.testing.assert_close(getattr(p2, key), getattr(p1, key))
        torch.testing.assert_close(gv2, gv1)
        torch.testing.assert_close(gt2, gt1)


def test_chunk_size_validation():
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="chunk_size"):
            CrossCLRLoss(chunk_size=bad)
