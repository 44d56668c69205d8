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
# # 01 — False negatives and connectivity
#
# *CrossCLR lab · paper: [Zolfaghari et al., CrossCLR, ICCV 2021 (arXiv 2109.14910)](https://arxiv.org/abs/2109.14910)
# · every symbol and term: [NOTATION](NOTATION.md) · [all notebooks](README.md) ·
# previous: [← 00 A contrastive primer](00_contrastive_primer.ipynb) ·
# next: [02 The loss explorer →](02_loss_explorer.ipynb)*
#
# A contrastive loss pulls each video towards its own caption and pushes it away from every other caption
# in the batch. But what if another caption in the batch describes *the same thing*? Then the loss pushes
# apart two items that belong together: a **false negative**. CrossCLR's answer is to measure, for each
# sample, how *connected* it is to the rest of the data in the **input-feature space** (the frozen features
# before any training), and to leave the most connected samples out of every anchor's negatives.
#
# **Learning goals**
# 1. Say what a false negative is and see how many a random batch contains.
# 2. Compute a sample's connectivity the way CrossCLR does, and see which samples the threshold γ marks
#    as *influential*.
# 3. Measure how often pruning really removes false negatives (precision, against the base rate) and how many
#    it catches (recall), as γ varies — first on synthetic data where the truth is known by construction, then
#    on real emoji clips.
# 4. Implement connectivity and the pruning mask yourself (exercises at the end check them).

# %% tags=["parameters"]
from typing import Optional  # the type of the parameters that may be None (papermill reads it)

dataset: str = "emoji_motion"  # the real dataset of part 2 ("synthetic" runs part 2 on synthetic data too)
data_root: "Optional[str]" = None  # dataset "folder": the folder of your features (docs/dataset-format.md)
batch_size: int = 64         # the paper's batch size: connectivity is measured inside a batch
gamma: float = 0.9           # the paper's pruning threshold
n_concepts: int = 12         # synthetic data: number of latent concepts ...
pairs_per_concept: int = 80  # ... and pairs drawn per concept (the Zipf version keeps fewer of the rarer ones)
epochs: int = 5              # shuffled epochs averaged in the precision/recall curves
n_thumbnails: int = 5        # most connected clips shown per modality
seed: int = 0

# %%
# %matplotlib inline
import numpy as np
import torch
from IPython.display import display

from crossclr_lab.data import load_dataset, make_synthetic
from crossclr_lab.lab.exercises import check_connectivity, check_pruning_mask
from crossclr_lab.lab.false_negatives import (
    batch_connectivity,
    connected_gallery,
    partner_shares,
    partner_table,
    partner_verdict,
    plot_connectivity,
    plot_pruning_curves,
    plot_similarity_matrices,
    pruning_curve,
    pruning_table,
    pruning_verdict,
    random_batches,
    show_thumbnails,
    similarity_table,
    similarity_verdict,
    true_negative_verdict,
    zipf_subset,
)
from crossclr_lab.lab.findings import show
from crossclr_lab.utils import seed_everything

seed_everything(seed)
gammas = np.round(np.linspace(0.5, 1.0, 11), 2)

# %% [markdown]
# ## Part 1 — synthetic pairs with known concepts
#
# `make_synthetic` draws pairs from a small number of latent *concepts*: every pair of a concept shows the
# same content with some variation, seen through two different random "modalities" (a video map and a text
# map). So for any anchor, the other pairs of its concept are false negatives, and we know exactly which.
# We build two versions: **balanced** (every concept equally frequent) and **Zipf** (a few frequent concepts,
# many rare ones — like real data, where "person walking" is far more common than "tent").

# %%
full = make_synthetic(n_concepts=n_concepts, pairs_per_concept=pairs_per_concept, seed=seed)   # ordered by concept
zipf = zipf_subset(full, "concept", largest=pairs_per_concept)
per_concept = len(zipf) // n_concepts             # the balanced version: about as many pairs in all
balanced = full.subset(np.flatnonzero(np.arange(len(full)) % pairs_per_concept < per_concept))
for name, d in (("balanced", balanced), ("Zipf", zipf)):
    sizes = np.bincount(d.groups["concept"])
    print(f"{name:>8}: {len(d)} pairs, concept sizes {sizes.tolist()}")
print(f"video input {tuple(full.video.shape[1:])} per pair (frames × features), "
      f"text input {tuple(full.text.shape[1:])}")

# %% [markdown]
# **The input-space similarity matrix.** Each row and column is a sample, sorted by concept (ticks on the axes
# mark where a concept ends); the colour is the cosine similarity of their **pooled** input features (one
# vector per clip: the mean over its frames). Both panels share one colour scale, so their brightness can be
# compared. Bright blocks on the diagonal mean samples of one concept look alike *before training* — the
# signal connectivity relies on. The table gives the two numbers the picture shows: the mean similarity within
# a concept and between concepts.

# %%
synthetic_panels = {"balanced: video features": (balanced.video_pooled, balanced.groups["concept"]),
                    "Zipf: video features": (zipf.video_pooled, zipf.groups["concept"])}
display(plot_similarity_matrices(synthetic_panels))
show(similarity_table(synthetic_panels, name="similarity_synthetic"))

# %% [markdown]
# **Connectivity.** For sample i of a batch, CrossCLR's connectivity is the mean cosine similarity of its
# input features to the other samples of the batch (and of the **queue**, when there is one — a memory of the
# last few thousand samples from earlier batches, first in, first out, that extends the comparison beyond the
# batch; notebook 02 shows its other role):
# $C_i = \frac{1}{B-1}\sum_{j\ne i}\cos(x_i, x_j)$. The loss divides the scores by their maximum,
# $\hat C_i = C_i / \max_j C_j$, and calls samples with $\hat C_i > \gamma$ *influential*: they are removed from
# every anchor's negatives. The bar chart shows one Zipf batch.

# %%
idx = random_batches(len(zipf), min(batch_size, len(zipf)), seed)[0]
conn = batch_connectivity(zipf.video_pooled[torch.as_tensor(idx)]).numpy()
display(plot_connectivity(conn, gamma, title=f"Video connectivity in one Zipf batch of {len(idx)} (γ = {gamma})"))

# %% [markdown]
# **Precision and recall of pruning.** Over shuffled batches, for each γ: *precision* is the share of removed
# (anchor, negative) pairs that really are false negatives; the *base rate* is the share of all negatives that
# are false negatives — the precision of removing negatives at random, the line a useful γ must beat (dashed,
# same colour). *Recall* is the share of all false negatives that pruning removes. Lower γ marks more samples
# and raises recall. The table reads the curves at the chosen γ (dotted vertical line).

# %%
synthetic_curves = {name: pruning_curve(d.video_pooled, d.groups["concept"], gammas, min(batch_size, len(d)),
                                        epochs, seed)
                    for name, d in (("balanced", balanced), ("Zipf", zipf))}
display(plot_pruning_curves(synthetic_curves, gamma,
                            title="Synthetic video features: pruning vs known false negatives"))
synthetic_table = pruning_table(synthetic_curves, gamma, name="pruning_synthetic")
show(synthetic_table)
show(pruning_verdict(synthetic_table))

# %% [markdown]
# Read the numbers with the definition in mind: connectivity measures how close a sample is to *everyone*,
# not to its own concept. With balanced concepts every sample has about the same connectivity, so the pruned
# ones are close to a random pick. With Zipf-sized concepts the members of the frequent concepts sit in dense
# regions and get the highest connectivity — and, being in a large concept, they are false negatives of many
# anchors. Pruning is a bet that *frequent content is where false negatives come from*; the verdict above says
# how well the bet paid on these two versions of the data.
#
# ## Part 2 — real clips: Emoji Motion
#
# Emoji Motion pairs short animated Fluent Emoji clips with their **CLDR** names (the Unicode standard's
# English emoji names, e.g. "thumbs up: medium skin tone"). The video features of a frame are the kit's
# default experts: the pooled output of an ImageNet-pretrained **EfficientNet-Lite0** CNN (`appearance`, 1280
# numbers) and a 4×4 grid of motion energy (`motion`, 16 numbers); the text features are **MiniLM** sentence
# embeddings (a small pretrained sentence encoder). Its false negatives are real: skin-tone variants of one
# emoji (`base`) and gender variants of one activity (`concept`: man/woman/person running) share a caption
# almost word for word and look alike.

# %%
data = load_dataset(dataset, split="train", data_root=data_root)
group_names = [g for g in ("base", "concept", "subcategory") if g in data.groups] or list(data.groups)
print(f"{data.name}: {len(data)} training pairs; groups: "
      + ", ".join(f"{g} ({len(set(data.groups[g]))} distinct)" for g in group_names))
key = "concept" if "concept" in data.groups else group_names[0]

# %% [markdown]
# The similarity matrices of an evenly spaced sample of the clips, sorted by concept, beside the synthetic
# Zipf data on **the same colour scale**. Most emoji concepts have only one to four clips, so their blocks are
# tiny; what differs is the rest of the matrix — how similar samples of *different* concepts are.

# %%
real_panels = {"synthetic Zipf: video": (zipf.video_pooled, zipf.groups["concept"]),
               f"{data.name}: video": (data.video_pooled, data.groups[key]),
               f"{data.name}: text": (data.text_pooled, data.groups[key])}
display(plot_similarity_matrices(real_panels))
real_similarity = similarity_table(real_panels, name="similarity_real")
show(real_similarity)
show(similarity_verdict(real_similarity))

# %% [markdown]
# Now the same precision/recall analysis, with two notions of "the same content": the same `concept`
# (gender and skin-tone variants merged) and, where the dataset has it, the same `base` emoji (skin-tone
# variants only).

# %%
real_curves = {f"{modality} / {g}": pruning_curve(feat, data.groups[g], gammas, batch_size, epochs, seed)
               for g in [x for x in ("concept", "base") if x in data.groups][:2] or [key]
               for modality, feat in (("video", data.video_pooled), ("text", data.text_pooled))}
display(plot_pruning_curves(real_curves, gamma, title=f"{data.name}: pruning vs same-group negatives"))
real_table = pruning_table(real_curves, gamma, name="pruning_real")
show(real_table)
show(pruning_verdict(real_table))
show(true_negative_verdict(real_table, f"video / {key}"))

# %% [markdown]
# **Who gets pruned?** Another way to read the same question: of the samples pruning marks influential, how
# many have a partner of their own concept in the batch (so that they really are a false negative for
# someone)? Compare it with the share among *all* samples, which is what a random pick would give.

# %%
shares = {modality: partner_shares(feat, data.groups[key], gamma, batch_size, epochs, seed)
          for modality, feat in (("video", data.video_pooled), ("text", data.text_pooled))}
partners = partner_table(shares, key, gamma)
show(partners)
show(partner_verdict(partners))

# %% [markdown]
# **How to read this.** Pruning is a heuristic on input similarity: it pays off only as far as input similarity
# predicts shared content. When false negatives are rare in a batch (a small base rate), even a precision well
# above the base rate leaves most pruned negatives *true* negatives — useful contrast taken from the densest
# region of the space. That is one honest reason CrossCLR's gains can be small or negative on a given dataset;
# notebook 03 measures what each component does to retrieval.
#
# ## The most connected clips
#
# Which emoji does CrossCLR consider most "influential" over the whole training set? One row per modality
# (connectivity of the video features, then of the text features), the most connected clips that have a
# picture, with their full names and C. The pictures are the static Fluent Emoji images shipped with the
# dataset; some clips (flags, families) have none.

# %%
for modality, feat in (("video", data.video_pooled), ("text", data.text_pooled)):
    images, titles, skipped = connected_gallery(data, feat, k=n_thumbnails)
    if images:
        display(show_thumbnails(images, titles, suptitle=f"Most connected clips by their {modality} features"))
    else:
        print(f"{data.name} ships no pictures; the most connected captions by {modality} features:",
              "; ".join(skipped[:n_thumbnails]))
    if images and skipped:
        print(f"{modality}: {len(skipped)} more connected clip(s) have no picture: {'; '.join(skipped[:5])}")

# %% [markdown]
# **Takeaways.** Connectivity is cheap (one matrix–vector product per batch) and label-free. It finds false
# negatives above chance when some content is much more frequent than the rest, and it is blind to false
# negatives between rare items. The precision and base-rate columns tell how much of a bet pruning is on a
# dataset. Notebook 02 opens up the loss to see what pruning and weighting do to its gradient.
#
# ## Exercises
#
# Each checker calls your function on random inputs, compares it with the library's and prints **PASS**, or
# the first mismatch with a hint; an unfinished stub is reported as *not yet implemented*. Solutions:
# [`solutions/exercises.py`](solutions/exercises.py).
#
# **1. Connectivity.** Write `my_connectivity(feat)`: for pooled input features `feat` of shape `[B, D]`,
# return a tensor `[B]` whose entry i is the mean cosine similarity of row i to the *other* rows.

# %%
def my_connectivity(feat):
    """feat [B, D] -> [B]: C_i = mean over j != i of cos(feat_i, feat_j)."""
    raise NotImplementedError   # your code here


result = check_connectivity(my_connectivity)

# %% [markdown]
# **2. The pruning mask.** Write `my_pruning_mask(conn, gamma)`: given the connectivities `conn` `[B]` of a
# batch, return a boolean tensor `[B]` that is True for the influential samples. (Mind the edge cases the
# checker tries: a sample exactly at γ, and γ = 1.)

# %%
def my_pruning_mask(conn, gamma):
    """conn [B], gamma -> bool [B]: True where the sample is influential (pruned)."""
    raise NotImplementedError   # your code here


result = check_pruning_mask(my_pruning_mask)

# %% [markdown]
# **3. Predict, then measure.** Before running the next cell, write down for the Zipf data which γ of the
# grid gives the largest lift (precision / base rate), and whether recall there is above or below 50 %. The
# cell reads both from the curves computed above.

# %%
zipf_curve = synthetic_curves["Zipf"]
lift = zipf_curve["precision"] / zipf_curve["base_rate"]
best = int(np.nanargmax(lift))
print(f"Zipf: the largest lift is {lift[best]:.1f}× at γ = {zipf_curve['threshold'][best]:.2f}, where recall is "
      f"{100 * zipf_curve['recall'][best]:.1f} % and {100 * zipf_curve['pruned_fraction'][best]:.1f} % of samples "
      "are pruned")

# %% [markdown]
# **4. A question to think about.** Connectivity is computed on the input features, which never change during
# training. What would change if it were computed on the model's embeddings instead (which move as the model
# learns)? Think of the first epochs, when the embeddings are random.
