# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#   kernelspec:
#     display_name: Python (crossclr-lab)
#     language: python
#     name: crossclr-lab
# ---

# %% [markdown]
# # 07 — Downstream: captioning from the joint space
#
# *CrossCLR lab · paper: [Zolfaghari et al., CrossCLR, ICCV 2021 (arXiv 2109.14910)](https://arxiv.org/abs/2109.14910)
# · every symbol and term: [NOTATION](NOTATION.md) · [all notebooks](README.md) ·
# previous: [← 06 YouCook2](06_youcook2.ipynb) · next: [08 Input features →](08_input_features.ipynb)*
#
# A joint video–text space is trained for retrieval, but the CrossCLR paper makes a second claim: the learned
# clip embeddings are also better *inputs* for another task. Fed to a captioner (MART) on YouCook2, CrossCLR's
# embeddings gave BLEU@4 11.11 and CIDEr-D 58.65, against 10.91 / 54.07 with COOT's and 8.00 / 35.74 for MART on
# its own features. This notebook runs the same kind of test at laptop scale: one small captioner, trained on
# three kinds of frozen clip vectors — CrossCLR's video embeddings, InfoNCE's, and the raw input features —
# and scored with the standard COCO caption metrics. With the default parameters it needs about 4 minutes of CPU
# time (the same settings as `crossclr-lab caption`); fewer seeds or epochs run faster.
#
# **Learning goals**
# 1. Say what a captioner conditioned on a frozen embedding can and cannot know about a clip.
# 2. Read BLEU, METEOR, ROUGE-L, CIDEr-D and RE@4, and see why a trivial constant caption is needed to make
#    sense of them.
# 3. Judge whether a retrieval difference between two losses carries over to captioning, with seed noise in view.

# %% tags=["parameters"]
from typing import Optional  # the type of the parameters that may be None (papermill reads it)

split_kind: str = "concept"  # "concept": test emoji never seen in training; "random": test clips of seen emoji
seeds: list[int] = [0, 1, 2]  # per seed: a CrossCLR and an InfoNCE encoder, and three captioners
epochs: int = 30           # dual-encoder training epochs
captioner_epochs: int = 10  # captioner epochs (the one with the best validation CIDEr-D is kept)
threads: int = 1           # torch CPU threads (the small models here run fastest on 1)
jobs: "Optional[int]" = None  # worker processes for the trainings, one thread each (None: one per CPU)
n_examples: int = 3        # test clips shown among the best and among the worst described
use_java: bool = True      # False skips METEOR, the one metric that needs a Java runtime

# %%
# %matplotlib inline
from IPython.display import Markdown, display

from crossclr_lab.captioning.compare import clip_vectors, format_caption_table, run_captioning, train_encoders
from crossclr_lab.captioning.metrics import CaptionScorer
from crossclr_lab.captioning.model import CaptionerConfig, Vocabulary, clip_references
from crossclr_lab.data import load_splits
from crossclr_lab.experiments.report import format_table
from crossclr_lab.lab.captioning import (
    decoder_inputs_table,
    out_of_vocabulary,
    pick_examples,
    plot_caption_examples,
    plot_learning_curves,
    reading,
)
from crossclr_lab.lab.exercises import check_repetition
from crossclr_lab.training.trainer import TrainConfig
from crossclr_lab.utils import use_threads

use_threads(threads)

# %% [markdown]
# ## Clips, captions and references
#
# Emoji Motion pairs each animated emoji clip with a caption made of its CLDR name and keywords
# (`label — keyword, keyword, …`). COCO-style metrics compare a generated caption with *several* references,
# so every clip gets its caption plus the alternatives the dataset's metadata holds: the CLDR name alone and the
# shortcodes (duplicates dropped). The captioner's vocabulary is every word of the training captions.

# %%
train, val, test = load_splits("emoji_motion", split_kind=split_kind)
splits = (train, val, test)
vocab = Vocabulary.build(train.captions)
test_refs = clip_references(test)
print(f"train {len(train)}, val {len(val)}, test {len(test)} clips; vocabulary: {len(vocab)} words")
print(f"references per test clip: {sum(map(len, test_refs)) / len(test_refs):.1f}; e.g. {test_refs[0]}")
unknown, total = out_of_vocabulary(vocab, test_refs)
print(f"test reference words outside the training vocabulary: {unknown} of {total} ({100 * unknown / total:.0f} %); "
      "no captioner here can write them")

# %% [markdown]
# ## The encoders
#
# One CrossCLR and one InfoNCE dual encoder per seed, with the paper's settings, selected on val retrieval —
# the same runs as `crossclr-lab compare`. Their test retrieval, for reference:

# %%
config = TrainConfig(epochs=epochs, warmup_epochs=min(4.0, epochs / 4), group=test.default_group(), progress=False)
models, retrieval = train_encoders(splits, config, seeds, log=lambda line: None, jobs=jobs, progress=False)
display(Markdown(format_table(retrieval)))

# %% [markdown]
# ## What the decoder sees
#
# The captioner gets **one frozen vector per clip** — nothing else about the clip: a dual encoder's
# L2-normalised video embedding (256 numbers), or the raw pooled video features (1296 numbers: the
# EfficientNet-Lite0 appearance features and the 4×4 motion grid, averaged over the frames). Each input
# dimension is standardised with training statistics, so no encoder is favoured
# by its scale. Whatever the caption needs and the vector lacks (an emoji's exact identity, often), the decoder
# cannot invent — it can only produce words it saw in training captions of clips with similar vectors.
#
# The last column is a decoder-free yardstick: caption each test clip with the caption of its most similar
# *training* clip in that vector space (cosine after centring), and score it.

# %%
display(Markdown(decoder_inputs_table(clip_vectors(models, splits, seeds[0]), train, test)))

# %% [markdown]
# ## Train the captioners
#
# A one-layer GRU, conditioned on the clip vector (initial state, and an input at every step), trained with
# teacher forcing (it always sees the true previous word) and decoded greedily (it picks the likeliest next
# word). Each captioner keeps the epoch with the best validation CIDEr-D. The training loss falls steadily;
# the validation score shows how much of that transfers to emoji the captioner never saw.

# %%
with CaptionScorer(use_java=use_java) as scorer:
    results = run_captioning(models, splits, CaptionerConfig(epochs=captioner_epochs), scorer, retrieval,
                             log=lambda line: None, jobs=jobs)
plot_learning_curves(results)

# %% [markdown]
# ## Scores
#
# All scores are x100. BLEU@n: clipped n-gram precision with a brevity penalty; METEOR: unigram matching with
# stems and synonyms; ROUGE-L: longest common subsequence; CIDEr-D: n-gram agreement weighted by rarity (a word
# every caption shares counts little), with a length penalty; RE@4: the share of repeated 4-grams within a
# caption (lower is better). The **constant caption** writes the same, most typical training caption for
# every clip: any captioner that does not beat it on a metric has learned nothing that metric can see.

# %%
display(Markdown(format_caption_table(results)))

# %% [markdown]
# ## Examples, good and bad
#
# The test clips CrossCLR's captioner describes best and worst (per-clip CIDEr-D, first seed), with every
# encoder's caption for the same clip.

# %%
good, bad = pick_examples(results, test, "crossclr", n=n_examples)
plot_caption_examples(results, test, good, bad)

# %% [markdown]
# ## An honest reading
#
# Computed from the numbers above:

# %%
for line in reading(results):
    print("-", line)

# %% [markdown]
# **What to take away**
#
# - A captioner on frozen embeddings can only say what the embedding kept. On held-out concepts (the concept
#   split) it can at best name related training concepts; compare rows with each other and with the constant
#   caption, not with the paper's YouCook2 numbers (other data, other captioner).
# - Frequent words inflate BLEU and ROUGE-L: a constant caption full of common words can score well there.
#   CIDEr-D weights n-grams by rarity, so repeating common words earns little on it.
# - Whether a retrieval gain carries over to captioning is a separate, testable question; the paired differences
#   over seeds above answer it for these features, and `crossclr-lab caption` reproduces the table.
#
# ## Exercises
#
# Each takes seconds: no training.
#
# **1. Implement RE@4.** Write `my_repetition(captions)` for a list of generated captions (one per clip, lower
# case, words separated by spaces): for each caption, take its 4-grams (every run of 4 consecutive words), count
# how often each distinct 4-gram occurs ($c_g$), and compute the share of occurrences that repeat an earlier one,
# $\sum_g (c_g - 1) / \sum_g c_g$ (0 for a caption shorter than 4 words); return the mean over captions, x100.
# The checker compares it with the metric in the table above. Solution:
# [`solutions/exercises.py`](solutions/exercises.py).

# %%
def my_repetition(captions):
    """captions: list of caption strings -> RE@4 x100 (lower is better)."""
    raise NotImplementedError   # your code here


result_repetition = check_repetition(my_repetition)

# %% [markdown]
# **2. A question to think about.** The constant caption has RE@4 = 0 and a captioner that repeats itself scores
# higher. Why does a low RE@4 not make a caption good, and which other column of the table tells you that the
# constant caption says nothing about the clip?

