"""Caption metrics: BLEU and ROUGE-L against hand-computed values, RE@4 on hand-made cases, METEOR with and without
Java, and the tokenizer against the PTB tokenizer on Emoji Motion's references."""

import math
import shutil

import pytest

from crossclr_lab.captioning import metrics as caption_metrics
from crossclr_lab.captioning.metrics import (
    COCO_METRICS,
    CaptionScorer,
    caption_scores,
    cider_d,
    java_missing_reason,
    repetition,
    tokenize,
)

needs_java = pytest.mark.skipif(shutil.which("java") is None, reason="no Java runtime (apt-get install "
                                                                      "default-jre-headless) for METEOR / PTB")


def test_tokenize_strips_end_punctuation_and_keeps_inner_punctuation():
    assert tokenize("Woman firefighter: medium-dark skin tone — fire, firetruck") == [
        "woman", "firefighter", "medium-dark", "skin", "tone", "fire", "firetruck"]
    assert tokenize("one o’clock — 1:00, (blood type) ... & -") == ["one", "o’clock", "1:00", "blood", "type"]
    words = tokenize("A cat: “sat”, on the mat.")
    assert tokenize(" ".join(words)) == words == ["a", "cat", "sat", "on", "the", "mat"]


def test_bleu_and_rouge_match_hand_computed_values_on_one_sentence():
    # hypothesis/reference of 6 words each (brevity penalty 1); clipped matches per n: 5/6, 3/5, 2/4, 1/3
    scores = caption_scores(["the cat sat on the mat"], [["the cat sat on a mat"]], use_java=False)["scores"]
    p = [5 / 6, 3 / 5, 2 / 4, 1 / 3]
    for n in range(1, 5):
        assert scores[f"BLEU@{n}"] == pytest.approx(100 * math.prod(p[:n]) ** (1 / n), rel=1e-6)
    # LCS "the cat sat on mat" = 5 of 6 words each way: precision = recall = F = 5/6 whatever ROUGE's beta
    assert scores["ROUGE-L"] == pytest.approx(100 * 5 / 6, rel=1e-9)


def test_bleu_is_a_corpus_score_with_brevity_penalty():
    # hypotheses 2 + 3 words, closest references 6 + 3 words: BP = exp(1 - 9/5); every n-gram of both matches
    out = caption_scores(["a cat", "the dog ran"], [["a cat sat on the mat"], ["the dog ran"]], use_java=False)
    bp = math.exp(1 - 9 / 5)
    assert out["scores"]["BLEU@1"] == pytest.approx(100 * bp, rel=1e-6)
    assert out["scores"]["BLEU@2"] == pytest.approx(100 * bp, rel=1e-6)  # 1 + 2 bigrams, all matched


def test_the_closest_reference_length_and_max_clipping_over_references():
    # "a a a" against two references: 'a' occurs at most twice in one reference -> clipped 2/3; closest length 3
    out = caption_scores(["a a a"], [["a a b", "a c d e f"]], use_java=False)
    assert out["scores"]["BLEU@1"] == pytest.approx(100 * 2 / 3, rel=1e-6)


def test_cider_d_rewards_the_right_clip_and_not_a_swapped_one():
    refs = [["a red apple on a table"], ["a blue car in the street"], ["two dogs play in the park"]]
    right = cider_d(["a red apple on a table", "a blue car in the street", "two dogs play in the park"], refs)
    swapped = cider_d(["a blue car in the street", "two dogs play in the park", "a red apple on a table"], refs)
    assert right > 100 and swapped < right / 4


def test_repetition_on_hand_made_cases():
    assert repetition(["a b c d a b c d"]) == pytest.approx(20.0)        # abcd x2, bcda, cdab, dabc: 1 of 5 repeats
    assert repetition(["x x x x x x"]) == pytest.approx(100 * 2 / 3)    # one 4-gram, 3 occurrences
    assert repetition(["a b c"]) == 0.0 and repetition(["a b c d e"]) == 0.0
    assert repetition(["a, b, c, d — a b c d."]) == pytest.approx(20.0)  # punctuation is not a word
    assert repetition([["a b c d", "a b c d"]]) == pytest.approx(50.0)   # a paragraph: 4-grams pooled over sentences,
    assert repetition([["a b c", "d a b c"]]) == 0.0                      # never across a sentence boundary
    assert repetition(["a b c d a b c d", "a b c"]) == pytest.approx(10.0)  # mean over paragraphs
    assert repetition(["a b a b a b"], n=2) == pytest.approx(100 * 3 / 5)   # RE@2: ab x3, ba x2
    with pytest.raises(ValueError, match="at least one"):
        repetition([])


def test_bad_inputs_are_explained():
    with pytest.raises(ValueError, match="one list of references per hypothesis"):
        caption_scores(["a", "b"], [["a"]], use_java=False)
    with pytest.raises(ValueError, match="at least one non-empty caption"):
        caption_scores(["a"], [[" , "]], use_java=False)
    with pytest.raises(ValueError, match="must be a list"):
        caption_scores(["a"], ["a cat"], use_java=False)
    with pytest.raises(ValueError, match="non-empty list"):
        caption_scores("a cat", [["a cat"]], use_java=False)


def test_without_java_meteor_is_skipped_with_the_reason_not_zero(monkeypatch):
    monkeypatch.setattr(caption_metrics.shutil, "which", lambda name: None)

    def no_jvm(*args, **kwargs):
        raise AssertionError("METEOR must not be started without Java")

    monkeypatch.setattr("pycocoevalcap.meteor.meteor.Meteor", no_jvm)
    assert "default-jre-headless" in java_missing_reason()
    with CaptionScorer() as scorer:
        out = scorer.score(["the cat sat on the mat"], [["the cat sat on a mat"]], per_item=True)
    assert "METEOR" not in out["scores"] and "METEOR" not in out["per_item"]
    assert "no Java runtime" in out["skipped"]["METEOR"]
    assert set(out["scores"]) == set(COCO_METRICS) - {"METEOR"} | {"RE@4"}
    assert out["scores"]["BLEU@1"] > 0


@needs_java
@pytest.mark.slow
def test_meteor_runs_with_java_and_one_process_serves_many_calls():
    with CaptionScorer() as scorer:
        assert scorer.skipped == {}
        same = scorer.score(["a man rides a horse on the beach"], [["a man rides a horse on the beach"]])
        other = scorer.score(["a dog", "a man rides a horse"], [["a cat sits on a mat"], ["a man rides a horse"]],
                             per_item=True)
        process = scorer._meteor.meteor_p
    assert same["scores"]["METEOR"] > 90 and 0 <= other["per_item"]["METEOR"][0] < other["per_item"]["METEOR"][1]
    assert 0 < other["scores"]["METEOR"] < same["scores"]["METEOR"]
    assert process.poll() is not None  # close() stopped the JVM


@needs_java
@pytest.mark.slow
def test_tokenizer_agrees_with_ptb_on_emoji_motion_references():
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    from crossclr_lab.data.emoji_motion import emoji_motion_metadata

    rows = [r for r in emoji_motion_metadata() if r["animated"]]
    keys = ("caption", "caption_label", "caption_shortcodes")
    ptb = PTBTokenizer().tokenize({r["id"]: [{"caption": r[k]} for k in keys] for r in rows})
    differ = [(r[k], p) for r in rows for k, p in zip(keys, ptb[r["id"]]) if " ".join(tokenize(r[k])) != p]
    total = len(rows) * len(keys)
    assert len(differ) / total < 0.01, differ[:10]   # the module docstring: 33 of 6,327 (let’s, a+, <3, Mrs.)
