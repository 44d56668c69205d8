"""Encoders and the dual encoder: shapes, masking, normalisation, temperature, argument checks."""

import math

import pytest
import torch

from crossclr_lab.data.paired import PairedFeatures
from crossclr_lab.models import DualEncoder, MLPEncoder, TemporalEncoder, build_model


def _features(n=6, t=5, dv=12, dt=10, text_tokens=None):
    g = torch.Generator().manual_seed(0)
    text = torch.randn(n, text_tokens, dt, generator=g) if text_tokens else torch.randn(n, dt, generator=g)
    return PairedFeatures(video=torch.randn(n, t, dv, generator=g),
                          video_lengths=torch.randint(1, t + 1, (n,), generator=g),
                          text=text, captions=[""] * n, ids=[str(i) for i in range(n)])


def test_mlp_encoder_shapes_and_pooling():
    enc = MLPEncoder(12, out_dim=8, hidden_dim=16).eval()
    x = torch.randn(3, 5, 12)
    lengths = torch.tensor([5, 2, 1])
    pooled = torch.stack([x[i, :n].mean(0) for i, n in enumerate(lengths.tolist())])
    assert enc(pooled).shape == (3, 8)
    torch.testing.assert_close(enc(x, lengths), enc(pooled))


def test_temporal_encoder_ignores_padding():
    torch.manual_seed(0)
    enc = TemporalEncoder(12, out_dim=8, d_model=16, num_heads=2, max_len=6).eval()
    x = torch.randn(2, 6, 12)
    lengths = torch.tensor([3, 6])
    out = enc(x, lengths)
    x2 = x.clone()
    x2[0, 3:] = 100.0  # garbage in the padding must not change item 0
    out2 = enc(x2, lengths)
    assert out.shape == (2, 8)
    torch.testing.assert_close(out[0], out2[0])
    assert not torch.allclose(out[1], enc(x2[:, :5], torch.tensor([3, 5]))[1])  # valid frames do matter


def test_temporal_encoder_rejects_long_or_flat_input():
    enc = TemporalEncoder(4, out_dim=4, d_model=8, num_heads=2, max_len=3)
    with pytest.raises(ValueError, match="max_len"):
        enc(torch.randn(1, 4, 4), torch.tensor([4]))
    with pytest.raises(ValueError, match=r"\[B, T, D\]"):
        enc(torch.randn(1, 4), torch.tensor([1]))


@pytest.mark.parametrize("kwargs, match", [({"dropout": 1.0}, "dropout"), ({"hidden_dim": 0}, "hidden_dim")])
def test_mlp_encoder_validates(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MLPEncoder(4, **kwargs)


def test_temporal_heads_must_divide():
    with pytest.raises(ValueError, match="divisible"):
        TemporalEncoder(4, d_model=10, num_heads=4)


@pytest.mark.parametrize("encoder, text_tokens", [("mlp", None), ("temporal", None), ("temporal", 4)])
def test_dual_encoder_forward_and_encode(encoder, text_tokens):
    from crossclr_lab.data.paired import PairedDataset, collate_paired

    f = _features(text_tokens=text_tokens)
    model = build_model(f, encoder=encoder, embed_dim=8, hidden_dim=16, num_heads=2).eval()
    batch = collate_paired([PairedDataset(f)[i] for i in range(len(f))])
    v, t = model(batch)
    assert v.shape == t.shape == (6, 8)
    vn, tn = model.encode_batch(batch)
    torch.testing.assert_close(vn.norm(dim=-1), torch.ones(6))
    torch.testing.assert_close(vn, torch.nn.functional.normalize(v, dim=-1))
    torch.testing.assert_close(tn, torch.nn.functional.normalize(t, dim=-1))
    text_is_sequence = isinstance(model.text_encoder, TemporalEncoder)
    assert text_is_sequence == (encoder == "temporal" and text_tokens is not None)


def test_temperature_fixed_or_learnable():
    f = _features()
    assert build_model(f).temperature is None
    model = build_model(f, learn_temperature=True, init_temperature=0.05)
    assert math.isclose(model.temperature.item(), 0.05, rel_tol=1e-6)
    assert any(p is model.log_temperature for p in model.parameters())
    with pytest.raises(ValueError, match="init_temperature"):
        DualEncoder(MLPEncoder(2), MLPEncoder(2), init_temperature=0.0)


def test_build_model_rejects_unknown_encoder():
    with pytest.raises(ValueError, match="mlp, temporal"):
        build_model(_features(), encoder="lstm")


def test_temporal_encoder_under_bf16_autocast():
    enc = TemporalEncoder(6, out_dim=4, d_model=8, num_heads=2, max_len=5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = enc(torch.randn(3, 5, 6), torch.tensor([5, 2, 1]))
    assert out.shape == (3, 4) and torch.isfinite(out.float()).all()
