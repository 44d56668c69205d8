"""Notebook 07's companion: nearest-caption yardstick, vocabulary coverage, example picking, figures, reading."""

import pytest
import torch
from matplotlib.figure import Figure

from crossclr_lab.captioning.compare import CAPTION_METRICS, RAW
from crossclr_lab.captioning.model import Vocabulary
from crossclr_lab.data import load_dataset
from crossclr_lab.experiments.comparison import summarize
from crossclr_lab.lab.captioning import (
    decoder_inputs_table,
    nearest_caption,
    out_of_vocabulary,
    pick_examples,
    plot_caption_examples,
    plot_learning_curves,
    reading,
)

REFS = [["a red apple"], ["a blue car"], ["two dogs play"], ["a green tree"]]


def _results(seeds=(0, 1, 2), retrieval_gain=1.0, caption_gain=1.0):
    """Hand-made results on 4 clips: CrossCLR captions clips 0 and 1 exactly, clips 2 and 3 wrongly."""
    captions = {"crossclr": ["a red apple", "a blue car", "a red car", "zebra"],
                "infonce": ["a red apple", "a red apple", "a red apple", "a red apple"],
                RAW: ["a blue car", "a blue car", "two dogs", "a tree"]}
    history = [{"epoch": e, "train_loss": 5.0 - e, "val_cider_d": 10.0 + e} for e in (1, 2, 3)]

    def runs(name, base):
        return [{"seed": s, "captions": captions[name], "history": history,
                 "test": {m: base + 0.1 * s for m in CAPTION_METRICS}} for s in seeds]

    results = {"dataset": "toy", "seeds": list(seeds), "baseline": "infonce", "test_references": REFS,
               "trivial": {"caption": "a", "test": {m: 1.0 for m in CAPTION_METRICS}},
               "variants": {"crossclr": {"runs": runs("crossclr", 10 + caption_gain)},
                            "infonce": {"runs": runs("infonce", 10.0)}, RAW: {"runs": runs(RAW, 10.0)}}}
    results["summary"] = summarize(results, CAPTION_METRICS)
    retrieval = {"variants": {n: {"runs": [{"seed": s, "test": {"t2v_r1": b + 0.1 * s}} for s in seeds]}
                              for n, b in (("crossclr", 5 + retrieval_gain), ("infonce", 5.0))}, "baseline": "infonce"}
    results["retrieval"] = {"summary": summarize(retrieval)}
    return results


class _Clips:
    """The two attributes the figures read from a dataset: no thumbnails here."""
    thumbnail_fn = None


def test_nearest_caption_copies_the_most_similar_training_clip():
    train = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]]) + 5.0  # centring removes the offset
    query = torch.tensor([[0.0, 0.9], [-0.8, 0.1]]) + 5.0
    assert nearest_caption(train, ["east", "north", "west", "south"], query) == ["north", "west"]


def test_out_of_vocabulary_counts_word_occurrences():
    vocab = Vocabulary.build(["a red apple", "a car"])
    assert out_of_vocabulary(vocab, [["a red car", "a blue car"], ["green"]]) == (2, 7)


def test_decoder_inputs_table_has_one_row_per_encoder():
    train, test = load_dataset("synthetic", "train"), load_dataset("synthetic", "test")
    vectors = {"a": (train.video_pooled, None, test.video_pooled), "b": (train.text_pooled, None, test.text_pooled)}
    table = decoder_inputs_table(vectors, train, test)
    rows = table.splitlines()[2:]
    assert [r.split("|")[1].strip() for r in rows] == ["a", "b"]
    assert f"[{len(test)}, {test.text_pooled.shape[1]}]" in rows[1]


def test_pick_examples_finds_the_best_and_worst_described_clips():
    good, bad = pick_examples(_results(), _Clips(), "crossclr", n=2)
    assert sorted(good) == [0, 1] and sorted(bad) == [2, 3]
    assert pick_examples(_results(), _Clips(), "crossclr", n=5) == (good, bad)  # capped at half the clips


def test_figures_render():
    results = _results()
    fig = plot_caption_examples(results, _Clips(), [0], [3])
    assert isinstance(fig, Figure) and len(fig.axes) == 4
    assert any("references: a red apple" in t.get_text() for t in fig.axes[1].texts)
    with pytest.raises(ValueError, match="no clips"):
        plot_caption_examples(results, _Clips(), [], [])
    curves = plot_learning_curves(results)
    assert [len(ax.lines) for ax in curves.axes] == [3, 3]


@pytest.mark.parametrize("retrieval_gain, caption_gain, expected", [
    (1.0, 1.0, "the same direction"), (-1.0, 1.0, "opposite directions"), (-1.0, -1.0, "the same direction")])
def test_reading_compares_retrieval_and_captioning_directions(retrieval_gain, caption_gain, expected):
    last = reading(_results(retrieval_gain=retrieval_gain, caption_gain=caption_gain))[-1]
    assert expected in last and "beyond seed noise" in last
    assert "too few seeds" in reading(_results(seeds=(0, 1)))[-1]
