"""The captioner: vocabulary, overfitting 20 captions exactly, seeding, validation selection, references, baseline."""

import pytest
import torch

from crossclr_lab.captioning.metrics import tokenize
from crossclr_lab.captioning.model import (
    SPECIALS,
    CaptionDecoder,
    CaptionerConfig,
    Vocabulary,
    clip_references,
    most_frequent_caption,
    train_captioner,
)
from crossclr_lab.data import load_dataset

pytestmark = pytest.mark.usefixtures("one_thread")

OVERFIT = CaptionerConfig(epochs=40, dropout=0.0, label_smoothing=0.0, batch_size=20, lr=1e-2)


@pytest.fixture(scope="module")
def train():
    return load_dataset("emoji_motion", "train")


@pytest.fixture(scope="module")
def twenty(train):
    """20 real Emoji Motion captions (6 to 20 words) and 20 random clip vectors [20, 16]."""
    captions = train.captions[::75][:20]
    return torch.randn(20, 16, generator=torch.Generator().manual_seed(0)), captions


def test_vocabulary_round_trip_unknown_words_and_order():
    vocab = Vocabulary.build(["a cat", "a dog", "the cat: sits"])
    assert vocab.words[:4] == list(SPECIALS) and vocab.words[4:] == ["a", "cat", "dog", "sits", "the"]
    ids = vocab.encode("A cat, a cow")
    assert ids == [vocab.bos, 4, 5, 4, vocab.unk, vocab.eos]
    assert vocab.decode(ids) == "a cat a <unk>" and vocab.decode([4, vocab.eos, 5]) == "a"
    assert len(Vocabulary.build(["a a b"], min_count=2)) == len(SPECIALS) + 1
    with pytest.raises(ValueError, match="no words"):
        Vocabulary.build([" — "])
    with pytest.raises(ValueError, match="special tokens"):
        Vocabulary(["a", "b"])


def test_decoder_overfits_twenty_captions_exactly(twenty):
    cond, captions = twenty
    captioner, record = train_captioner(cond, captions, config=OVERFIT)
    assert captioner.caption(cond) == [" ".join(tokenize(c)) for c in captions]
    assert record["history"][-1]["train_loss"] < 0.05 and record["best_epoch"] == OVERFIT.epochs


def test_one_epoch_does_not_overfit(twenty):
    """The control that shows the overfitting test can fail."""
    cond, captions = twenty
    captioner, _ = train_captioner(cond, captions, config=CaptionerConfig(**{**vars(OVERFIT), "epochs": 1}))
    assert captioner.caption(cond) != [" ".join(tokenize(c)) for c in captions]


def test_training_is_seeded_and_validation_selects_the_best_epoch(twenty):
    cond, captions = twenty
    refs = [[c] for c in captions]
    config = CaptionerConfig(epochs=6, batch_size=8, dropout=0.1, lr=5e-3, seed=3)
    (a, rec_a), (b, rec_b) = (train_captioner(cond, captions, cond, refs, config) for _ in range(2))
    assert [h["train_loss"] for h in rec_a["history"]] == [h["train_loss"] for h in rec_b["history"]]
    assert a.caption(cond) == b.caption(cond)
    scores = [h["val_cider_d"] for h in rec_a["history"]]
    assert rec_a["best_epoch"] == 1 + scores.index(max(scores))
    other = train_captioner(cond, captions, config=CaptionerConfig(**{**vars(config), "seed": 4}))[1]
    assert other["history"][0]["train_loss"] != rec_a["history"][0]["train_loss"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_gives_the_same_kind_of_result(twenty):
    cond, captions = twenty
    captioner, _ = train_captioner(cond, captions, config=CaptionerConfig(**{**vars(OVERFIT), "device": "cuda"}))
    assert next(captioner.decoder.parameters()).is_cuda
    assert captioner.caption(cond) == [" ".join(tokenize(c)) for c in captions]


def test_inputs_are_standardised_with_training_statistics():
    decoder = CaptionDecoder(3, 10)
    cond = torch.tensor([[1.0, 100.0, -5.0], [3.0, 300.0, -5.0]])
    captioner, _ = train_captioner(cond, ["a b", "c d"], config=CaptionerConfig(epochs=1))
    assert torch.allclose(captioner.decoder.cond_mean.cpu(), torch.tensor([2.0, 200.0, -5.0]))
    assert torch.allclose(captioner.decoder.cond_std.cpu(), torch.tensor([1.0, 100.0, 1e-6]))
    with pytest.raises(ValueError, match=r"\[B, 3\]"):
        decoder(torch.zeros(2, 4), torch.zeros(2, 3, dtype=torch.long))


@pytest.mark.parametrize("kwargs, message", [
    ({"epochs": 0}, "epochs must be an int >= 1"), ({"dropout": 1.0}, "dropout"),
    ({"label_smoothing": -0.1}, "label_smoothing"), ({"lr": 0}, "lr must be a finite number > 0"),
    ({"max_len": 0}, "max_len"),
])
def test_config_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CaptionerConfig(**kwargs)


def test_bad_training_inputs_are_explained():
    cond = torch.zeros(3, 4)
    with pytest.raises(ValueError, match="one caption per clip vector"):
        train_captioner(cond, ["a", "b"])
    with pytest.raises(ValueError, match="NaN"):
        train_captioner(torch.full((2, 4), float("nan")), ["a", "b"])
    with pytest.raises(ValueError, match="both val_cond and val_references"):
        train_captioner(cond, ["a", "b", "c"], val_cond=cond)
    with pytest.raises(ValueError, match="val clip vectors have 2 dims"):
        train_captioner(cond, ["a", "b", "c"], torch.zeros(1, 2), [["a"]])


def test_most_frequent_caption_and_its_tie_break():
    assert most_frequent_caption(["a dog", "a cat", "a dog"]) == "a dog"
    # all unique: the caption whose words are most common among the captions on average (red: 2 captions)
    assert most_frequent_caption(["red apple pie", "red car", "blue sky"]) == "red car"       # 1.5 > 4/3 > 1
    assert most_frequent_caption(["red car", "red apple", "blue sky"]) == "red apple"        # tie: alphabetical
    with pytest.raises(ValueError):
        most_frequent_caption([])


def test_emoji_motion_references_put_the_caption_first_and_add_the_cldr_alternatives():
    test = load_dataset("emoji_motion", "test")
    refs = clip_references(test)
    assert len(refs) == len(test) and all(r[0] == c for r, c in zip(refs, test.captions))
    assert all(1 <= len(r) <= 3 for r in refs) and sum(map(len, refs)) > 2.5 * len(test)
    for r in refs:  # no reference repeats another word for word
        assert len({tuple(tokenize(x)) for x in r}) == len(r)
    with_alternative = next(r for r in refs if len(r) == 3)
    assert with_alternative[0].startswith(with_alternative[1])  # "label — keywords" starts with the label
    synthetic = load_dataset("synthetic", "val")
    assert clip_references(synthetic) == [[c] for c in synthetic.captions]
