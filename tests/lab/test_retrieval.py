"""Retrieval curves and free-text search: curves against the metrics, search against brute force, the widget."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure

from crossclr_lab.data import make_synthetic
from crossclr_lab.experiments.report import plot_recall_curves
from crossclr_lab.lab.retrieval import ClipSearch
from crossclr_lab.metrics import recall_curve, recall_curves
from crossclr_lab.models import build_model


@pytest.fixture(scope="module")
def data():
    return make_synthetic(n_concepts=6, pairs_per_concept=5, seed=0, split="test")


@pytest.fixture(scope="module")
def models(data):
    torch.manual_seed(0)
    return {"A": build_model(data, embed_dim=16, hidden_dim=32), "B": build_model(data, embed_dim=16, hidden_dim=32)}


def _lookup_encoder(data):
    """A stand-in sentence encoder: the query 'caption <i>' maps to caption i's stored text features."""
    return lambda texts: torch.stack([data.text_pooled[int(t.split()[-1])] for t in texts])


def test_recall_curves_match_metrics(data):
    rng = torch.Generator().manual_seed(0)
    emb = {"m": (torch.randn(len(data), 8, generator=rng), torch.randn(len(data), 8, generator=rng))}
    curves = recall_curves(emb, groups=data.groups["concept"], max_k=100)["m"]
    assert len(curves["t2v"]) == len(data)            # capped at N
    np.testing.assert_allclose(curves["v2t"], recall_curve(*emb["m"], direction="v2t"))
    assert np.all(curves["t2v_sem"] >= curves["t2v"] - 1e-9) and curves["t2v"][-1] == pytest.approx(100.0)
    assert "t2v_sem" not in recall_curves(emb, max_k=5)["m"]
    fig = plot_recall_curves(recall_curves(emb, groups=data.groups["concept"]), n=len(data), title="toy")
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["m: exact", "m: semantic", f"chance, exact (K/{len(data)})"]
    with pytest.raises(ValueError):
        recall_curves({}, max_k=5)


def test_search_matches_brute_force(data, models):
    search = ClipSearch(models, data, encode_query=_lookup_encoder(data))
    results = search.search("caption 7", k=4)
    assert set(results) == {"A", "B"}
    for name, hits in results.items():
        model = models[name].eval()
        with torch.no_grad():
            q = F.normalize(model.text_encoder(data.text_pooled[7:8]), dim=-1)
            v = F.normalize(model.video_encoder(data.video_pooled), dim=-1)
        expected = (v @ q[0]).topk(4)
        assert [h.index for h in hits] == expected.indices.tolist()
        np.testing.assert_allclose([h.score for h in hits], expected.values.numpy(), rtol=1e-5, atol=1e-6)
        assert [h.rank for h in hits] == [1, 2, 3, 4]
        assert hits[0].caption == data.captions[hits[0].index] and hits[0].id == data.ids[hits[0].index]
    assert len(search.search("caption 0", k=1000)["A"]) == len(data)     # k capped at the gallery size


def test_search_validates(data, models):
    search = ClipSearch(models, data, encode_query=_lookup_encoder(data))
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="k must be"):
            search.search("caption 1", k=bad)
    with pytest.raises(ValueError, match="non-empty"):
        search.search("   ")
    wrong_space = ClipSearch(models, data, encode_query=lambda texts: torch.zeros(len(texts), 384))
    with pytest.raises(ValueError, match="384"):
        wrong_space.search("happy cat")
    with pytest.raises(ValueError, match="empty"):
        ClipSearch({}, data)
    tokens = make_synthetic(n_concepts=2, pairs_per_concept=2)
    tokens.text = tokens.text[:, None, :].repeat(1, 3, 1)
    tokens.text_lengths = torch.full((len(tokens),), 3)
    with pytest.raises(ValueError, match="pooled sentence features"):
        ClipSearch({"t": build_model(tokens, encoder="temporal", embed_dim=8, hidden_dim=16)}, tokens)


def test_figure_and_widget(data, models):
    search = ClipSearch(models, data, encode_query=_lookup_encoder(data))
    fig = search.show("caption 3", k=3)
    assert isinstance(fig, Figure) and len(fig.axes) == 6           # 2 models x 3 hits
    assert fig.axes[0].get_ylabel() == "A" and "no thumbnail" in [t.get_text() for t in fig.axes[0].texts]
    calls = []
    encoder = search.encode_query
    search.encode_query = lambda texts: calls.append(texts) or encoder(texts)
    ui = search.widget("caption 3", k=2, options=["caption 1", "caption 2"])
    assert [len(h) for h in ui.result.values()] == [2, 2] and "caption 3" in ui.output.value
    ui.query.value = "caption 5"                                     # the learner types a new query
    assert "caption 5" in ui.output.value and ui.result == search.search("caption 5", 2)
    ui.slider.value = 4                                              # and asks for more clips
    assert [len(h) for h in ui.result.values()] == [4, 4]
    assert ui.output.value.count("z = ") == 8 and "no thumbnail" in ui.output.value
    assert calls == [["caption 3"], ["caption 5"]]                   # K moved: the query was not encoded again
    ui.query.value = ""
    assert ui.result is None and "type a query" in ui.output.value   # an empty box asks for a query


@pytest.mark.slow
def test_minilm_query_lands_on_its_caption_features():
    from crossclr_lab.data.paired import PairedFeatures
    from crossclr_lab.experts.text_encoder import embed_texts

    captions = ["a happy cat", "a red sports car", "a person running in the rain", "a bowl of hot soup"]
    text = embed_texts(captions)
    gallery = PairedFeatures(video=text[:, None, :].clone(), video_lengths=torch.ones(4, dtype=torch.long), text=text,
                             captions=captions, ids=[str(i) for i in range(4)], name="toy")
    torch.manual_seed(0)
    model = build_model(gallery, embed_dim=16, hidden_dim=32)
    # tie the video head to the text head: a caption's own clip is then its exact match
    model.video_encoder.load_state_dict(model.text_encoder.state_dict())
    search = ClipSearch({"tied": model}, gallery)
    torch.testing.assert_close(search.query_features("a happy cat"), text[:1], rtol=1e-4, atol=1e-5)
    for i, caption in enumerate(captions):
        top = search.search(caption, k=1)["tied"][0]
        assert top.index == i and top.score == pytest.approx(1.0, abs=1e-4)


def test_ranks_and_z_compare_models_on_one_scale(data, models):
    search = ClipSearch(models, data, encode_query=_lookup_encoder(data))
    scores, ranks = search.scores("caption 3"), search.ranks("caption 3")
    for name in models:
        order = torch.argsort(scores[name], descending=True)
        assert ranks[name][order].tolist() == list(range(1, len(data) + 1))
        hit = search.search("caption 3", k=1)[name][0]
        s = scores[name]
        assert hit.z == pytest.approx(float((s.max() - s.mean()) / s.std()), rel=1e-5)


def test_query_report_rank_table_and_verdicts(data, models):
    from crossclr_lab.lab.findings import check_claims
    from crossclr_lab.lab.retrieval import (
        query_report,
        query_verdict,
        rank_table,
        retrieval_findings,
        retrieval_verdict,
    )

    search = ClipSearch(models, data, encode_query=_lookup_encoder(data))
    relevant = [data.captions[3]]
    table = query_report(search, "caption 3", relevant, k=3, train_ids={data.ids[3]})
    ranks = search.ranks("caption 3")
    hits = [i for i, c in enumerate(data.captions) if relevant[0].lower() in c.lower()]
    for row, name in zip(table.rows, models):
        assert int(row[1]) == min(int(ranks[name][i]) for i in hits)
    assert table.rows[-1][1] == "1"                       # the query's own caption ranks first by its features
    verdict = query_verdict(table, "caption 3", k=3)
    assert check_claims({table.name: table.markdown()}, verdict) == []
    ranked = rank_table(search, "caption 3", k=2)
    assert all(int(r[1]) <= 2 or int(r[2]) <= 2 for r in ranked.rows)
    embeddings = {"A": (torch.randn(30, 4), torch.randn(30, 4)), "B": (torch.randn(30, 4), torch.randn(30, 4))}
    findings = retrieval_findings(embeddings, groups=data.groups["concept"])
    assert check_claims({findings.name: findings.markdown()}, retrieval_verdict(findings)) == []
    with pytest.raises(ValueError, match="relevant"):
        query_report(search, "caption 3", [])
