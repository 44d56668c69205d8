"""Companion of notebook 07 (captioning from the joint space): what the decoder sees, learning curves, example
captions with thumbnails, and sentences computed from :func:`crossclr_lab.captioning.compare.run_captioning`'s results.

Example::

    display(Markdown(decoder_inputs_table(clip_vectors(models, splits, seed=0), train, test)))
    plot_learning_curves(results)
    good, bad = pick_examples(results, test, "crossclr", n=3)
    plot_caption_examples(results, test, good, bad)
"""

from __future__ import annotations

import textwrap

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from crossclr_lab.captioning.compare import BASELINE, caption_verdict_lines
from crossclr_lab.captioning.metrics import CaptionScorer, cider_d, tokenize
from crossclr_lab.captioning.model import Vocabulary, clip_references
from crossclr_lab.experiments.report import variant_color
from crossclr_lab.experiments.stats import MIN_SEEDS


def out_of_vocabulary(vocab: Vocabulary, references: list[list[str]]) -> tuple[int, int]:
    """``(unknown, total)``: word occurrences in ``references`` outside ``vocab``, and all word occurrences."""
    words = [w for refs in references for r in refs for w in tokenize(r)]
    return sum(w not in vocab.index for w in words), len(words)


def nearest_caption(train_vectors: torch.Tensor, train_captions: list[str], vectors: torch.Tensor) -> list[str]:
    """For each row of ``vectors [M, D]``, the caption of the most cosine-similar training clip ``[N, D]`` —
    what a captioner could at best copy from the training set, with no language model at all."""
    mean = train_vectors.mean(0)  # centre first: raw features are all-positive histograms, cosines near 1 otherwise
    sims = F.normalize(vectors - mean, dim=1) @ F.normalize(train_vectors - mean, dim=1).T
    return [train_captions[j] for j in sims.argmax(1).tolist()]


def decoder_inputs_table(vectors: dict[str, tuple], train, test) -> str:
    """Markdown: per encoder, the clip vectors' shape and the test CIDEr-D of copying the nearest training caption.

    ``vectors``: name -> ``(train, val, test)`` tensors (:func:`crossclr_lab.captioning.compare.clip_vectors`).
    """
    refs = clip_references(test)
    lines = ["| clip vectors | train | test | CIDEr-D of the nearest training clip's caption |", "|---|---|---|---|"]
    for name, (v_train, _, v_test) in vectors.items():
        score = cider_d(nearest_caption(v_train, train.captions, v_test), refs)
        lines.append(f"| {name} | {list(v_train.shape)} | {list(v_test.shape)} | {score:.2f} |")
    return "\n".join(lines)


def plot_learning_curves(results: dict) -> Figure:
    """Per encoder: training loss and validation CIDEr-D per epoch (mean over seeds, band = min..max)."""
    fig = Figure(figsize=(11, 3.8))
    ax_loss, ax_val = fig.subplots(1, 2)
    for name, variant in results["variants"].items():
        histories = [run["history"] for run in variant["runs"]]
        epochs = np.arange(1, len(histories[0]) + 1)
        for ax, key in ((ax_loss, "train_loss"), (ax_val, "val_cider_d")):
            if key not in histories[0][0]:
                continue
            values = np.array([[h[key] for h in hist] for hist in histories])
            ax.plot(epochs, values.mean(0), color=variant_color(name, 0), label=name)
            ax.fill_between(epochs, values.min(0), values.max(0), color=variant_color(name, 0), alpha=0.15)
    ax_loss.set(xlabel="epoch", ylabel="training loss (token cross-entropy)", title="Teacher-forced training")
    ax_val.set(xlabel="epoch", ylabel="val CIDEr-D (x100, greedy captions)", title="Validation (selects the epoch)")
    if not ax_val.lines:
        ax_val.text(0.5, 0.5, "no validation split", ha="center", va="center", transform=ax_val.transAxes)
    for ax in (ax_loss, ax_val):
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_loss.legend()
    fig.suptitle(f"{results['dataset']}: captioners over {len(results['seeds'])} seed(s) (band: min to max)")
    fig.tight_layout()
    return fig


def per_clip_cider(results: dict, name: str, seed: int | None = None) -> list[float]:
    """Per-test-clip CIDEr-D (x100) of one run's captions (``seed``: default the first)."""
    run = next(r for r in results["variants"][name]["runs"] if seed is None or r["seed"] == seed)
    with CaptionScorer(use_java=False) as scorer:
        return scorer.score(run["captions"], results["test_references"], per_item=True)["per_item"]["CIDEr-D"]


def pick_examples(results: dict, test, name: str = "crossclr", n: int = 3) -> tuple[list[int], list[int]]:
    """Indices of the ``n`` test clips ``name``'s first-seed captioner describes best and ``n`` it describes worst
    (per-clip CIDEr-D), among clips with a thumbnail when the dataset has them; ties go to the lower index."""
    scores = per_clip_cider(results, name)
    pictured = [i for i in range(len(scores)) if test.thumbnail_fn is None or test.thumbnail(i, strict=False)]
    ranked = sorted(pictured, key=lambda i: (-scores[i], i))
    n = min(n, len(ranked) // 2)
    return ranked[:n], sorted(ranked[-n:], key=lambda i: (scores[i], i)) if n else []


def plot_caption_examples(results: dict, test, good: list[int], bad: list[int] = (), seed: int | None = None) -> Figure:
    """One row per test clip (``good`` ones first, then ``bad`` ones): its thumbnail, its references, and each
    encoder's caption with its per-clip CIDEr-D."""
    rows = [(i, "well described") for i in good] + [(i, "badly described") for i in bad]
    if not rows:
        raise ValueError("no clips to show: pass some indices in good or bad")
    seed = results["seeds"][0] if seed is None else seed
    per_clip = {name: per_clip_cider(results, name, seed) for name in results["variants"]}
    captions = {name: next(r for r in v["runs"] if r["seed"] == seed)["captions"]
                for name, v in results["variants"].items()}
    fig = Figure(figsize=(12, 1.9 * len(rows)))
    axes = fig.subplots(len(rows), 2, gridspec_kw={"width_ratios": [1, 11]}, squeeze=False)
    for (ax_img, ax_txt), (i, kind) in zip(axes, rows):
        picture = test.thumbnail(i, strict=False) if test.thumbnail_fn is not None else None
        if picture is not None:
            ax_img.imshow(picture)
        else:
            ax_img.text(0.5, 0.5, "no\npicture", ha="center", va="center", fontsize=8)
        ax_img.set_title(kind, fontsize=8)
        ax_img.axis("off")
        ax_txt.axis("off")
        lines = [("references: " + " | ".join(results["test_references"][i]), "black", "bold")]
        lines += [(f"{name} ({per_clip[name][i]:.0f}): {captions[name][i] or '(empty)'}", variant_color(name, 3),
                   "normal") for name in captions]
        y = 1.0
        for text, color, weight in lines:
            wrapped = textwrap.fill(text, 150, subsequent_indent="    ")
            ax_txt.text(0.0, y, wrapped, va="top", ha="left", fontsize=8, color=color, weight=weight,
                        transform=ax_txt.transAxes)
            y -= 0.2 * (wrapped.count("\n") + 1)
    fig.suptitle(f"Test clips: references and generated captions (seed {seed}; in brackets: each caption's "
                 "CIDEr-D x100)", fontsize=10)
    fig.tight_layout()
    return fig


def reading(results: dict) -> list[str]:
    """The verdict sentences, plus whether each encoder's retrieval difference and captioning difference to the
    baseline point the same way (when the results carry the encoders' retrieval)."""
    lines = caption_verdict_lines(results)
    retrieval = results.get("retrieval")
    if retrieval is None:
        return lines
    for name in ("crossclr",):
        r = retrieval["summary"][name]["diff"]["t2v_r1"]
        c = results["summary"][name]["diff"]["CIDEr-D"]
        if min(r["n"], c["n"]) < MIN_SEEDS:
            judged = f"too few seeds (need >= {MIN_SEEDS}) to call either beyond seed noise"
        else:
            judged = (f"retrieval {'beyond' if r['beyond_noise'] else 'within'} seed noise, captioning "
                      f"{'beyond' if c['beyond_noise'] else 'within'} it")
        direction = "the same direction" if (r["mean"] > 0) == (c["mean"] > 0) else "opposite directions"
        lines.append(f"Retrieval and captioning, {name} − {BASELINE}: T→V R@1 {r['mean']:+.1f}, CIDEr-D "
                     f"{c['mean']:+.2f}: {direction}; {judged}.")
    return lines
