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
# # 08 — When does CrossCLR help? The input features decide
#
# *CrossCLR lab · paper: [Zolfaghari et al., CrossCLR, ICCV 2021 (arXiv 2109.14910)](https://arxiv.org/abs/2109.14910)
# · every symbol and term: [NOTATION](NOTATION.md) · [all notebooks](README.md) ·
# previous: [← 07 Captioning](07_captioning.ipynb) · next: [09 Your own videos →](09_your_own_videos.ipynb)*
#
# CrossCLR looks at the data twice: through the embeddings it trains, and through the **input features**
# it never trains, where it measures each sample's *connectivity* $C_i$ (its mean cosine similarity to the
# rest of the batch). Connectivity decides which negatives are pruned and how much weight each sample gets:
# $c_i = C_i / \sum_j C_j$, $w_i = e^{c_i/\kappa}$ with the paper's κ = 0.0035. That formula quietly assumes
# that the cosines of the input features are mostly positive, as they are for the outputs of pretrained
# ReLU networks, which is what the paper fed it. Here we take one dataset, Emoji Motion, with three kinds of
# video features and watch the same loss behave differently on each.
#
# **Learning goals**
# 1. See how the geometry of the input features (cosines centred on 0, or all positive) shapes the
#    connectivity distribution.
# 2. Measure how evenly CrossCLR's weighting spreads a batch's loss (the largest weight share per batch).
# 3. Train CrossCLR and InfoNCE on each feature set and read the paired difference with its seed noise.

# %% tags=["parameters"]
from typing import Optional  # the type of the parameters that may be None (papermill reads it)

split_kind: str = "concept"  # "concept": test concepts never seen in training; "random": held-out clips
seeds: list[int] = [0, 1, 2, 3, 4]  # every loss is trained once per seed and feature set (30 runs)
epochs: int = 30           # training epochs per run, as in `crossclr-lab demo`
batch_size: int = 64       # the paper's batch size; connectivity and weights are per batch
weight_epochs: int = 10    # shuffled epochs of batches for the weight-share statistic
threads: int = 1           # torch CPU threads (small models run fastest on 1)
jobs: "Optional[int]" = None  # worker processes for the independent runs, one thread each (None: one per CPU)
pairs: list[list[str]] = [["appearance", "text"], ["motion", "text"], ["appearance", "motion"]]  # A ↔ B ([] skips)
pair_seeds: list[int] = [0, 1, 2]  # seeds per pair and loss (18 runs; the README's pair table used 5: 0-4)
train_here: bool = False   # True: train every run (defaults: 48 runs, ~8 min on 2 cores), not the shipped results

# %%
# %matplotlib inline
from IPython.display import Markdown, display

from crossclr_lab.data.emoji_motion import DEFAULT_VIDEO_FEATURES, VIDEO_FEATURES
from crossclr_lab.lab.exercises import check_weight_share
from crossclr_lab.lab.input_features import (
    compare_losses,
    compare_pairs,
    delta_table,
    load_feature_sets,
    mean_cosine,
    notebook_config,
    pair_reading,
    pair_table,
    plot_connectivity_distributions,
    reading,
    weight_share_table,
)
from crossclr_lab.training.model_cache import default_cache_dir
from crossclr_lab.utils import use_threads

use_threads(threads)

# %% [markdown]
# ## Three kinds of video features
#
# Emoji Motion ships several *experts* per frame (`VIDEO_FEATURES`); the loader concatenates the ones you
# name. We compare:
# - **hand-crafted**: weight-free features; their first 64 dimensions are a PCA of the frame's ink image,
#   centred on the training mean;
# - **pretrained**: the kit's default experts (below), led by the pooled ReLU6 output of an
#   ImageNet-pretrained EfficientNet-Lite0, so every entry is >= 0;
# - **centred pretrained**: the same, minus their mean training frame — the same information as
#   "pretrained", only shifted so that the cosines centre on 0.

# %%
for name, description in VIDEO_FEATURES.items():
    print(f"{name:>12}: {description}")
print(f"default experts: {' + '.join(DEFAULT_VIDEO_FEATURES)}")
sets = load_feature_sets(split_kind)
for name, (train, val, test) in sets.items():
    cos, negative = mean_cosine(train.video_pooled)
    print(f"{name:>20}: video input {tuple(train.video.shape[1:])}; between train clips the cosine averages "
          f"{cos:+.3f}, {100 * negative:.0f} % of pairs are negative")

# %% [markdown]
# ## Connectivity and weights, before any training
#
# Left: the connectivity $C_i$ of training samples in random batches of 64. Right: for each batch, the
# largest share of the batch's loss weight that one sample gets, $\max_i w_i / \sum_j w_j$, computed by the
# loss itself (`crossclr_lab.losses.weight_share`). Equal weights give 1/64 ≈ 0.016; 1 means one sample carries
# the whole batch. When $\sum_j C_j$ is close to 0 the normalised $c_i$ blow up and $e^{c_i/\kappa}$ picks a
# winner; when $\sum_j C_j \le 0$ the loss falls back to uniform weights.

# %%
stats = weight_share_table(sets, batch_size=batch_size, epochs=weight_epochs)
plot_connectivity_distributions(sets, stats, batch_size=batch_size)

# %%
for name, s in stats.items():
    rest = f"; in the other batches the median is {s['median_weighted']:.3f}" if 0 < s["fallback_fraction"] < 1 else ""
    print(f"{name:>20}: largest weight share median {s['median']:.3f} (p10 {s['p10']:.3f}, p90 {s['p90']:.3f}); "
          f"uniform fallback (Σ C <= 0) in {100 * s['fallback_fraction']:.1f} % of {s['batches']} batches{rest}")

# %% [markdown]
# ## The same loss on each: CrossCLR − InfoNCE
#
# Now the experiment that matters: train CrossCLR (the paper's defaults) and InfoNCE on each feature set,
# with the same seeds, batches and protocol as `crossclr-lab demo` (select on val, report test). Only the
# video input changes. Δ is the paired per-seed difference CrossCLR − InfoNCE.
#
# **Nothing is trained by default.** The kit ships the results of all 48 runs of this notebook's default settings
# (in `data/pretrained/emoji_motion/runs.json.gz`, beside notebook 03's, written by `python -m tools.build_pretrained`,
# which trains them). A run is read from there only when its key matches: the same data (the fingerprint of every
# split, so each feature set and view pair is its own key), loss, seed and every training setting, checked by
# sha256 and code version. Each run's line below says whether it was read ("shipped result") or trained. Change a
# parameter and the runs it changes are trained here (and kept in the model cache, `runs/cache` or
# `$CROSSCLR_CACHE`, so a rerun reuses them); `train_here = True` trains all 48 yourself (about 8 minutes on 2
# cores) and the same numbers come out.

# %%
config = notebook_config(epochs, batch_size)
results = compare_losses(sets, seeds, config, jobs=jobs, cache_dir=default_cache_dir(), use_shipped=not train_here)
display(Markdown(delta_table(results, stats)))

# %% [markdown]
# What the table says, sentence by sentence, computed from its numbers:

# %%
display(Markdown("\n".join(reading(results, stats))))

# %% [markdown]
# ## Other modality pairs
#
# The paper's third finding is that CrossCLR also helps between two *other* modalities (its LSMDC table pairs
# video experts with each other). With several experts per clip the kit can ask the same question: train
# CrossCLR and InfoNCE between any two of `text`, `appearance`, `motion`, `handcrafted`, with view A in the
# "video" slot and view B in the "text" slot, so "A←B" means: a B item is the query, its own A item the target
# (`crossclr-lab compare --pair A B` runs the same from the command line). Connectivity, pruning and weighting
# are then measured on each view's own input features.

# %%
if pairs:
    pair_results = compare_pairs([tuple(p) for p in pairs], pair_seeds, config, split_kind, jobs=jobs,
                                 cache_dir=default_cache_dir(), use_shipped=not train_here)
    display(Markdown(pair_table(pair_results)))
    display(Markdown("\n".join(pair_reading(pair_results))))
else:
    print("no view pairs (set pairs = [['appearance', 'motion']] in the parameters cell)")

# %% [markdown]
# How to read it: a pair whose best R@10 is barely above chance has little to align, and no loss can fix that;
# where both losses do retrieve, the paired Δ columns say whether CrossCLR's intra-modality negatives and
# connectivity help for *that* pair. The sentences above are computed from the table, so they change with the
# seeds and pairs you choose.

# %% [markdown]
# ## What to take away
#
# - CrossCLR's connectivity is a property of the *input* features, fixed before training. Its weighting
#   formula normalises by $\sum_j C_j$, which is only well behaved when connectivities are mostly positive.
# - Check the largest weight share of your features (`python -m crossclr_lab.experiments.data_card emoji_motion`
#   prints it per expert) before trusting κ = 0.0035; centring or PCA-whitening the inputs can turn a
#   loss that spreads its weight into one that hands a batch to a single sample.
# - Whether a loss "wins" can depend on such a detail of the input: compare on the features you will use,
#   with several seeds and paired differences.
#
# ## Exercises
#
# Each takes seconds: no training.
#
# **1. Implement the largest weight share.** Write `my_weight_share(feat, kappa)` for one batch of pooled input
# features `feat` [B, D] (rows of different lengths): the connectivity $C_i$ (mean cosine of row i to the other
# rows), $c_i = C_i / \sum_j C_j$, the weights $w_i = \exp(c_i / \kappa)$, and return $\max_i w_i / \sum_j w_j$
# — or $1/B$ when $\sum_j C_j \le 0$, where the loss falls back to uniform weights. The checker compares it
# with the loss's own weights. Solution: [`solutions/exercises.py`](solutions/exercises.py).

# %%
def my_weight_share(feat, kappa):
    """feat: [B, D] pooled input features, kappa: κ -> the largest weight share of the batch."""
    raise NotImplementedError   # your code here


result_weight_share = check_weight_share(my_weight_share)

# %% [markdown]
# **2. Pruning on the same features.** Run `python -m crossclr_lab.experiments.data_card emoji_motion` (seconds)
# and read the pruned share it prints beside each expert's weight share. Pruning removes sample k when
# $C_k / \max_j C_j > \gamma$: which geometry of the input features makes it remove most of a batch, and what is
# left of the loss for an anchor when all its negatives are pruned?

