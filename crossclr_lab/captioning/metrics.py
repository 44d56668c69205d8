"""Caption metrics: the COCO caption scores (BLEU@1-4, METEOR, ROUGE-L, CIDEr-D) and the repetition metric RE@4.

The COCO scores come from the standard evaluation package ``pycocoevalcap`` (the coco-caption code: its
``Bleu``, ``Meteor``, ``Rouge`` and ``Cider`` classes; ``Cider`` implements CIDEr-D, with the Gaussian
length penalty and clipped n-gram counts). Every score is reported x100, as in the CrossCLR and MART papers.

**Tokenizer.** coco-caption normally runs Stanford's PTB tokenizer first, which needs a Java runtime. Here
both hypotheses and references go through :func:`tokenize` instead (lower case, split on white space, strip
punctuation from the ends of each word, drop words without a letter or digit), for three reasons: BLEU,
ROUGE-L and CIDEr-D then need no Java; the captioner's vocabulary is built with the same function, so the
scorer sees exactly the words a decoder can produce; and the numbers do not change with the machine. On Emoji
Motion's references of animated clips the two tokenizers agree on 6,294 of 6,327 strings (99.5 %); the rest
differ where PTB splits English clitics (``let’s`` -> ``let 's``), ``a+``, ``<3`` and ``5–0``, or keeps the
period of ``Mrs.`` (``tests/captioning/test_caption_metrics.py`` checks this when Java is present).

**Java.** METEOR runs the METEOR 1.5 jar shipped in pycocoevalcap, so it needs ``java`` on the ``PATH``
(Debian: ``apt-get install default-jre-headless``). Without it METEOR is reported as *skipped* with the
reason — never as 0 — and the other scores are unaffected.

**RE@4** (Lei et al., MART, ACL 2020; reported in CrossCLR's captioning results; lower is better): for each generated
paragraph, the share of its 4-gram occurrences that repeat an earlier one,
``sum_g max(c_g - 1, 0) / sum_g c_g`` over the 4-grams ``g`` with counts ``c_g`` (taken within each sentence
and pooled over the paragraph's sentences; 0 when there is none), averaged over paragraphs, x100.

Example::

    with CaptionScorer() as scorer:
        result = scorer.score(["a cat on a mat"], [["a cat sat on the mat", "cat on mat"]])
    result["scores"]["BLEU@4"], result["skipped"]          # {} when Java is present
"""

from __future__ import annotations

import shutil
from collections import Counter
from typing import Sequence

from crossclr_lab.checks import check_int

COCO_METRICS = ("BLEU@1", "BLEU@2", "BLEU@3", "BLEU@4", "METEOR", "ROUGE-L", "CIDEr-D")
JAVA_METRICS = ("METEOR",)
REPETITION_METRIC = "RE@4"
LOWER_IS_BETTER = (REPETITION_METRIC,)
# punctuation stripped from both ends of a word (ASCII and the typographic dashes, quotes and ellipsis)
_EDGE_PUNCTUATION = ".,:;!?()[]{}\"'`“”‘’—–…"


def tokenize(text: str) -> list[str]:
    """Lower-cased words of ``text``: split on white space, end punctuation stripped, punctuation-only words dropped.

    Inner punctuation stays (``medium-light``, ``o’clock``, ``1:00``); applying it to its own output joined
    with spaces returns the same words.
    """
    words = (raw.strip(_EDGE_PUNCTUATION) for raw in text.lower().split())
    return [w for w in words if any(ch.isalnum() for ch in w)]


def java_missing_reason() -> str | None:
    """``None`` when a ``java`` executable is on the PATH, else why the Java metrics cannot be computed."""
    if shutil.which("java") is None:
        return ("no Java runtime: `java` is not on the PATH, and pycocoevalcap's METEOR runs a Java jar "
                "(Debian: apt-get install default-jre-headless)")
    return None


def repetition(paragraphs: Sequence[str | Sequence[str]], n: int = 4) -> float:
    """RE@n x100 (see the module docstring): each item is one caption or a list of sentences (one paragraph)."""
    check_int("n", n, 1)
    if len(paragraphs) == 0:
        raise ValueError("need at least one paragraph to score")
    per_paragraph = []
    for paragraph in paragraphs:
        sentences = [paragraph] if isinstance(paragraph, str) else list(paragraph)
        counts = Counter()
        for sentence in sentences:
            words = tokenize(sentence)
            counts.update(tuple(words[i:i + n]) for i in range(len(words) - n + 1))
        total = sum(counts.values())
        per_paragraph.append(sum(c - 1 for c in counts.values()) / total if total else 0.0)
    return 100.0 * sum(per_paragraph) / len(per_paragraph)


def _coco_inputs(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> tuple[dict, dict]:
    """pycocoevalcap's ``(gts, res)``: item -> tokenized references / [tokenized hypothesis], after checking."""
    if isinstance(hypotheses, str) or len(hypotheses) == 0:
        raise ValueError("hypotheses must be a non-empty list of caption strings")
    if len(hypotheses) != len(references):
        raise ValueError(f"need one list of references per hypothesis, got {len(hypotheses)} hypotheses and "
                         f"{len(references)} reference lists")
    for i, refs in enumerate(references):
        if isinstance(refs, str) or not any(tokenize(r) for r in refs):
            raise ValueError(f"item {i}: references must be a list with at least one non-empty caption, got {refs!r}")
    res = {i: [" ".join(tokenize(h))] for i, h in enumerate(hypotheses)}
    gts = {i: [" ".join(tokenize(r)) for r in refs if tokenize(r)] for i, refs in enumerate(references)}
    return gts, res


class CaptionScorer:
    """Scores captions with pycocoevalcap; holds one METEOR process (a JVM, ~10 s to start) for all calls.

    Use as a context manager or call :meth:`close`. ``use_java=False`` skips METEOR even when Java is present.
    """

    def __init__(self, use_java: bool = True):
        self.java_problem = java_missing_reason() if use_java else "switched off (use_java=False)"
        self._meteor = None

    def __enter__(self) -> "CaptionScorer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Stop the METEOR process, if one was started."""
        meteor, self._meteor = self._meteor, None
        if meteor is not None:  # what pycocoevalcap's Meteor.__del__ does, but now rather than at garbage collection
            with meteor.lock:
                meteor.meteor_p.stdin.close()
                meteor.meteor_p.kill()
                meteor.meteor_p.wait()

    @property
    def skipped(self) -> dict[str, str]:
        """Metric -> reason, for the metrics this scorer cannot compute."""
        return {m: self.java_problem for m in JAVA_METRICS} if self.java_problem else {}

    def score(self, hypotheses: Sequence[str], references: Sequence[Sequence[str]],
              per_item: bool = False) -> dict:
        """Corpus scores of ``hypotheses`` (N strings) against ``references`` (N lists of strings).

        Returns ``{"scores": {metric: value x100}, "skipped": {metric: reason}}`` with the COCO metrics and RE@4;
        with ``per_item=True`` also ``"per_item": {metric: [N values x100]}`` (BLEU's per-item values are
        sentence-level BLEU, the corpus value is not their mean).
        """
        from pycocoevalcap.bleu.bleu import Bleu
        from pycocoevalcap.cider.cider import Cider
        from pycocoevalcap.rouge.rouge import Rouge

        gts, res = _coco_inputs(hypotheses, references)
        scores, items = {}, {}
        bleu, bleu_items = Bleu(4).compute_score(gts, res, verbose=0)
        for k in range(4):
            scores[f"BLEU@{k + 1}"], items[f"BLEU@{k + 1}"] = bleu[k], bleu_items[k]
        if not self.java_problem:
            if self._meteor is None:
                from pycocoevalcap.meteor.meteor import Meteor

                self._meteor = Meteor()
            scores["METEOR"], items["METEOR"] = self._meteor.compute_score(gts, res)
        scores["ROUGE-L"], items["ROUGE-L"] = Rouge().compute_score(gts, res)
        scores["CIDEr-D"], items["CIDEr-D"] = Cider().compute_score(gts, res)
        out = {"scores": {m: 100.0 * float(scores[m]) for m in COCO_METRICS if m in scores}, "skipped": self.skipped}
        out["scores"][REPETITION_METRIC] = repetition(hypotheses)
        if per_item:
            out["per_item"] = {m: [100.0 * float(v) for v in items[m]] for m in COCO_METRICS if m in items}
            out["per_item"][REPETITION_METRIC] = [repetition([h]) for h in hypotheses]
        return out


def cider_d(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> float:
    """Corpus CIDEr-D x100 alone (no Java, no METEOR process): e.g. to select a captioner on validation data."""
    from pycocoevalcap.cider.cider import Cider

    gts, res = _coco_inputs(hypotheses, references)
    return 100.0 * float(Cider().compute_score(gts, res)[0])


def caption_scores(hypotheses: Sequence[str], references: Sequence[Sequence[str]], use_java: bool = True) -> dict:
    """One-off :meth:`CaptionScorer.score` (starts and stops METEOR's JVM; reuse a scorer for many calls)."""
    with CaptionScorer(use_java=use_java) as scorer:
        return scorer.score(hypotheses, references)
