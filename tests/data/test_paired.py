"""PairedFeatures: validation, subsets, the shuffled-pairs control, the Dataset and its collate function."""

import pytest
import torch
from torch.utils.data import DataLoader

from crossclr_lab.data import PairedDataset, PairedFeatures, collate_paired, make_synthetic, masked_mean
from crossclr_lab.metrics import retrieval_metrics


def small(n=6, t=4):
    video = torch.arange(n * t * 3, dtype=torch.float32).reshape(n, t, 3)
    return PairedFeatures(video=video, video_lengths=torch.tensor([t, 2, 1, t, 3, t][:n]),
                          text=torch.randn(n, 5, generator=torch.Generator().manual_seed(0)),
                          captions=[f"c{i}" for i in range(n)], ids=[f"id{i}" for i in range(n)],
                          groups={"g": [i % 2 for i in range(n)]})


def test_pooled_features_are_masked_means():
    data = small()
    assert torch.allclose(data.video_pooled[1], data.video[1, :2].mean(0))
    assert torch.allclose(data.video_pooled[2], data.video[2, 0])
    assert torch.equal(masked_mean(data.video, data.video_lengths), data.video_pooled)
    assert torch.equal(data.text_pooled, data.text)


def test_masked_mean_of_full_lengths_has_the_bits_of_the_masked_product():
    x = torch.randn(5, 7, 33)
    full = torch.full((5,), 7)
    mask = torch.ones(5, 7, 1)
    assert torch.equal(masked_mean(x, full), (x * mask).sum(1) / mask.sum(1))   # the shortcut changes no bit
    short = torch.tensor([7, 3, 1, 7, 2])
    assert torch.allclose(masked_mean(x, short)[1], x[1, :3].mean(0))


def test_subset_keeps_pairs_aligned():
    data = small()
    sub = data.subset([4, 1])
    assert sub.ids == ["id4", "id1"] and sub.captions == ["c4", "c1"] and sub.groups["g"] == [0, 1]
    assert torch.equal(sub.text[0], data.text[4]) and torch.equal(sub.video_pooled[1], data.video_pooled[1])
    assert len(data.subset(torch.tensor([True, False, True, False, False, False]))) == 2


def test_shuffled_pairs_is_a_chance_level_control():
    data = make_synthetic(n_concepts=10, pairs_per_concept=20, noise=0.0, seed=0)
    shuffled = data.shuffled_pairs(seed=1)
    assert torch.equal(shuffled.video, data.video)
    assert sorted(shuffled.captions) == sorted(data.captions) and shuffled.captions != data.captions
    # The texts no longer match their videos: an oracle that uses input-space identity of the pair scores at
    # chance on the shuffled copy.
    truth = retrieval_metrics(data.text_pooled[:, :8], data.text_pooled[:, :8])
    broken = retrieval_metrics(data.text_pooled[:, :8], shuffled.text_pooled[:, :8])
    assert truth["t2v_r1"] == 100 and broken["t2v_r1"] < 10


def test_dataset_and_collate():
    data = small()
    batch = next(iter(DataLoader(PairedDataset(data), batch_size=4, collate_fn=collate_paired)))
    assert batch["video"].shape == (4, 4, 3) and batch["video_length"].tolist() == [4, 2, 1, 4]
    assert batch["text"].shape == (4, 5) and batch["index"].tolist() == [0, 1, 2, 3]


def test_validation_and_thumbnails():
    data = small()
    with pytest.raises(ValueError, match="same N items"):
        PairedFeatures(video=data.video, video_lengths=data.video_lengths, text=data.text[:3],
                       captions=data.captions, ids=data.ids)
    with pytest.raises(ValueError, match=r"\[N, T, D\]"):
        PairedFeatures(video=data.video[:, 0], video_lengths=data.video_lengths, text=data.text,
                       captions=data.captions, ids=data.ids)
    with pytest.raises(ValueError, match="no thumbnails"):
        data.thumbnail(0)
    assert data.thumbnail(0, strict=False) is None
    assert "N=6" in repr(data)


def test_group_codes_and_default_group():
    from crossclr_lab.data.paired import group_codes

    assert group_codes(["b", "a", "b"]).tolist() == [1, 0, 1]
    assert group_codes([3, 1, 3]).tolist() == [1, 0, 1]
    with pytest.raises(ValueError, match="mix types"):
        group_codes([1, "1"])
    data = make_synthetic(n_concepts=2, pairs_per_concept=2, seed=0)
    assert data.default_group() == "concept"


@pytest.mark.parametrize("fields", [None, ("video_pooled", "text_pooled"), ("index", "video", "video_length")])
def test_batched_fetch_equals_stacked_items(fields):
    data = make_synthetic(n_concepts=4, pairs_per_concept=5, video_dim=6, text_dim=5, frames=3, seed=0)
    dataset = PairedDataset(data, fields)
    indices = [7, 0, 13, 7]
    stacked = collate_paired([dataset[i] for i in indices])
    batch = collate_paired(dataset.__getitems__(indices))
    assert set(batch) == set(stacked) == set(fields or ("index", "video", "video_length", "text", "video_pooled",
                                                        "text_pooled"))
    assert all(torch.equal(batch[k], stacked[k]) and batch[k].dtype == stacked[k].dtype for k in batch)
    loaded = next(iter(DataLoader(dataset, batch_size=4, collate_fn=collate_paired)))  # through __getitems__
    assert all(torch.equal(loaded[k], collate_paired([dataset[i] for i in range(4)])[k]) for k in loaded)
    with pytest.raises(ValueError, match="unknown PairedDataset fields"):
        PairedDataset(data, ["frames"])
