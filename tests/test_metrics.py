"""Retrieval metrics against brute force and hand-made cases with known ranks."""

import numpy as np
import pytest
import torch

from crossclr_lab.metrics import chance_metrics, recall_curve, retrieval_metrics, retrieval_ranks


def brute_ranks(query, gallery, groups=None):
    # The same float32 score matrix as the library (so exact ties stay ties); the ranking is done by hand.
    q = torch.nn.functional.normalize(query.float(), dim=1)
    g = torch.nn.functional.normalize(gallery.float(), dim=1)
    s = (q @ g.T).tolist()
    ranks = []
    for i, row in enumerate(s):
        if groups is None:
            ranks.append(1 + sum(1 for j, x in enumerate(row) if j != i and x >= row[i]))
            continue
        # semantic: order the gallery by score, items of other groups first among equal scores (pessimistic)
        order = sorted(range(len(row)), key=lambda j: (-row[j], groups[j] == groups[i]))
        ranks.append(1 + next(pos for pos, j in enumerate(order) if groups[j] == groups[i]))
    return ranks


def emb(n, d, seed, ties=False):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    if ties:                                  # few distinct values -> many exact ties
        x = torch.randint(-1, 2, (n, d), generator=g).float() + 0.01
    return x


@pytest.mark.parametrize("n,d,seed,ties", [(1, 3, 0, False), (7, 4, 1, False), (50, 8, 2, False),
                                           (40, 3, 3, True), (30, 2, 4, True)])
def test_ranks_match_brute_force(n, d, seed, ties):
    v, t = emb(n, d, seed, ties), emb(n, d, seed + 100, ties)
    groups = [i % 4 for i in range(n)]
    assert retrieval_ranks(t, v, chunk_size=7).tolist() == brute_ranks(t, v)
    assert retrieval_ranks(v, t, groups, chunk_size=7).tolist() == brute_ranks(v, t, groups)


def test_metrics_match_brute_force():
    v, t = emb(60, 8, 5), emb(60, 8, 6)
    groups = [f"g{i % 7}" for i in range(60)]
    m = retrieval_metrics(v, t, groups=groups, chunk_size=16)
    for prefix, (q, g) in (("t2v", (t, v)), ("v2t", (v, t))):
        ranks = np.array(brute_ranks(q, g))
        sem = np.array(brute_ranks(q, g, groups))
        for k in (1, 5, 10):
            assert m[f"{prefix}_r{k}"] == pytest.approx((ranks <= k).mean() * 100)
            assert m[f"{prefix}_sem_r{k}"] == pytest.approx((sem <= k).mean() * 100)
        assert m[f"{prefix}_medr"] == pytest.approx(np.median(ranks))
        assert m[f"{prefix}_mnr"] == pytest.approx(ranks.mean())


def test_hand_made_ranks():
    # Texts along the axes; video 0 matches text 0, video 1 is closest to text 2, video 2 to text 1.
    t = torch.tensor([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]])
    v = torch.tensor([[1.0, 0.1, 0], [0, 0.2, 1.0], [0, 1.0, 0.5]])
    m = retrieval_metrics(v, t)
    assert retrieval_ranks(v, t).tolist() == [1, 2, 2]
    assert m["v2t_r1"] == pytest.approx(100 / 3) and m["v2t_r5"] == 100
    assert m["v2t_medr"] == 2 and m["v2t_mnr"] == pytest.approx(5 / 3)


def test_identical_embeddings_rank_pessimistically():
    v = torch.ones(5, 4)
    m = retrieval_metrics(v, v)
    assert m["t2v_r1"] == 0 and m["t2v_medr"] == 5          # every item ties with every other


def test_perfect_retrieval_and_semantic_hits():
    e = torch.eye(6)
    m = retrieval_metrics(e, e, groups=[0, 0, 1, 1, 2, 2])
    assert m["t2v_r1"] == 100 and m["v2t_medr"] == 1 and m["t2v_sem_r1"] == 100
    # a shuffled gallery misses exactly but hits semantically when the swap stays inside a group
    swapped = e[[1, 0, 3, 2, 5, 4]]
    m = retrieval_metrics(swapped, e, groups=[0, 0, 1, 1, 2, 2])
    assert m["t2v_r1"] == 0 and m["t2v_sem_r1"] == 100


def test_recall_curve_is_monotone_and_consistent():
    v, t = emb(80, 6, 7), emb(80, 6, 8)
    curve = recall_curve(v, t, "v2t")
    assert curve.shape == (80,) and np.all(np.diff(curve) >= 0) and curve[-1] == pytest.approx(100)
    m = retrieval_metrics(v, t)
    assert curve[0] == pytest.approx(m["v2t_r1"]) and curve[9] == pytest.approx(m["v2t_r10"])
    short = recall_curve(v, t, "t2v", max_k=5, groups=[i % 3 for i in range(80)])
    assert short.shape == (5,)


def test_chance_level():
    c = chance_metrics(1000)
    assert c["r1"] == pytest.approx(0.1) and c["medr"] == 500.5


def test_large_chunked_fits():
    v, t = emb(3000, 16, 9), emb(3000, 16, 10)
    assert retrieval_ranks(t, v, chunk_size=256).tolist() == retrieval_ranks(t, v, chunk_size=3000).tolist()


@pytest.mark.parametrize("bad,match", [
    (lambda v, t: (v, t[:3]), "same shape"), (lambda v, t: (v[:0], t[:0]), "N=0"),
    (lambda v, t: (v[0], t[0]), r"\[N, D\]"),
    (lambda v, t: (v.index_fill(0, torch.tensor([0]), float("nan")), t), "NaN")])
def test_bad_inputs(bad, match):
    v, t = emb(5, 3, 0), emb(5, 3, 1)
    with pytest.raises(ValueError, match=match):
        retrieval_metrics(*bad(v, t))
    with pytest.raises(ValueError, match="one label per pair"):
        retrieval_metrics(v, t, groups=[0, 1])
    with pytest.raises(ValueError, match="direction"):
        recall_curve(v, t, "x2y")
