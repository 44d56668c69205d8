"""The connectivity weight-share statistic against a loop-by-loop transcription of the paper's weighting."""

import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from crossclr_lab.data.paired import random_batches
from crossclr_lab.losses.weight_share import PAPER_KAPPA, largest_weight_share

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.usefixtures("one_thread")


def reference_share(features: np.ndarray, batch_size: int, batches: int, kappa: float, seed: int = 0) -> float:
    """Per batch: C_i = mean_{j != i} cos(f_i, f_j); c = C / Σ C; w = exp(c / κ) (uniform when Σ C <= 0)."""
    shares, epoch = [], 0
    while len(shares) < batches:
        for index in random_batches(len(features), batch_size, seed=seed + epoch):
            if len(shares) == batches:
                break
            f = features[index].astype(np.float64)
            f = f / np.linalg.norm(f, axis=1, keepdims=True)
            conn = [sum(f[i] @ f[j] for j in range(len(f)) if j != i) / (len(f) - 1) for i in range(len(f))]
            total = sum(conn)
            if total <= 0:
                shares.append(1 / len(f))
                continue
            c = np.array(conn) / total
            w = np.exp((c - c.max()) / kappa)  # shifted: the same ratios, no overflow
            shares.append(w.max() / w.sum())
        epoch += 1
    return float(np.median(shares))


@pytest.mark.parametrize("kappa", [PAPER_KAPPA, 0.05, 1.0])
@pytest.mark.parametrize("offset", [0.0, 0.3])  # centred cosines (Σ C near 0 or below) and positive ones
def test_matches_the_loop_by_loop_formula(kappa, offset):
    rng = np.random.default_rng(3)
    features = (rng.standard_normal((50, 12)) + offset).astype(np.float32)
    got = largest_weight_share(torch.from_numpy(features), batch_size=16, batches=7, weight_temperature=kappa, seed=2)
    assert got == pytest.approx(reference_share(features, 16, 7, kappa, seed=2), rel=1e-3)


def test_uniform_for_identical_features_and_concentrated_as_kappa_shrinks():
    assert largest_weight_share(torch.ones(40, 5), batch_size=8, batches=3) == pytest.approx(1 / 8)
    rng = np.random.default_rng(0)
    features = torch.from_numpy(rng.standard_normal((64, 32)).astype(np.float32)) + 0.2
    loose = largest_weight_share(features, batch_size=64, batches=1, weight_temperature=1.0)
    sharp = largest_weight_share(features, batch_size=64, batches=1, weight_temperature=1e-4)
    assert loose < 2 / 64 and sharp > 0.5


def test_bad_arguments():
    with pytest.raises(ValueError, match="batch_size must be in"):
        largest_weight_share(torch.randn(10, 3), batch_size=64)
    with pytest.raises(ValueError, match="batches must be an int >= 1"):
        largest_weight_share(torch.randn(10, 3), batch_size=4, batches=0)


@pytest.mark.skipif(not (REPO / "data" / "emoji_motion" / "MANIFEST.sha256").is_file(),
                    reason="Emoji Motion data (data/emoji_motion) not built")
def test_the_numbers_the_docs_quote_for_emoji_motion():
    from crossclr_lab.data import load_dataset

    train = load_dataset("emoji_motion", "train")
    docs = (REPO / "docs" / "dataset-format.md").read_text(encoding="utf-8")
    for name, feat in (("video", train.video_pooled), ("text", train.text_pooled)):
        quoted = float(re.search(rf"^  {name}\s+([0-9.]+) ", docs, re.M).group(1))
        assert math.isclose(largest_weight_share(feat), quoted, abs_tol=5e-4), name
