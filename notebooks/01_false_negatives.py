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
# A contrastive loss pulls each video towards its own caption and pushes it away from every other caption
# in the batch. But what if another caption in the batch describes *the same thing*? Then the loss pushes
# apart two items that belong together: a **false negative**. CrossCLR's answer is to measure, for each
# sample, how *connected* it is to the rest of the data in the **input-feature space** (before any
# training), and to drop the most connected samples from the negative sets.
#
# **Learning goals**
# 1. Say what a false negative is and see how many a random batch contains.
# 2. Compute a sample's connectivity the way CrossCLR does, and see which samples the threshold γ marks
#    as *influential*.
# 3. Measure how often pruning really removes false negatives (precision) and how many it catches
#    (recall), as γ varies — first on synthetic data where the truth is known by construction, then on
#    real emoji clips.

# %% tags=["parameters"]
dataset = "emoji_motion"     # the real dataset of part 2 ("synthetic" runs part 2 on synthetic data too)
batch_size = 64              # the paper's batch size: connectivity is measured inside a batch
gamma = 0.9                  # the paper's pruning threshold
n_concepts = 12              # synthetic data: number of latent concepts ...
pairs_per_concept = 80       # ... and pairs drawn per concept (the Zipf version keeps fewer of the rarer ones)
epochs = 5                   # shuffled epochs averaged in the precision/recall curves
n_thumbnails = 12            # most connected emoji to show
seed = 0

# %%
# %matplotlib inline
import numpy as np
import torch
from IPython.display import display

from crossclr_lab.data import load_dataset, make_synthetic
from crossclr_lab.lab.false_negatives import (
    batch_connectivity,
    describe_pruning,
    false_negative_share,
    most_connected,
    plot_connectivity,
    plot_pruning_curves,
    plot_similarity_matrices,
    pruning_curve,
    random_batches,
    show_thumbnails,
    zipf_subset,
)
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
print(f"video input {tuple(full.video.shape[1:])} per pair, text input {tuple(full.text.shape[1:])}")

# %% [markdown]
# **The input-space similarity matrix.** Each row and column is a sample, sorted by concept; the colour is
# the cosine similarity of their pooled input features. Bright blocks on the diagonal mean samples of one
# concept look alike *before training* — the signal connectivity relies on. In the Zipf version the first
# concepts take up most of the matrix.

# %%
display(plot_similarity_matrices({
    "Balanced concepts: video features": (balanced.video_pooled, balanced.groups["concept"]),
    "Zipf concepts: video features": (zipf.video_pooled, zipf.groups["concept"])}))

# %% [markdown]
# **Connectivity.** For sample i of a batch, CrossCLR's connectivity is the mean cosine similarity of its
# input features to the other samples of the batch (and of the queue, when there is one):
# $C_i = \frac{1}{B-1}\sum_{j\ne i}\cos(x_i, x_j)$. The loss divides the scores by their maximum and calls
# samples above γ *influential*: they are removed from every anchor's negatives. The bar chart shows one
# Zipf batch; red bars are pruned at the chosen γ.

# %%
idx = random_batches(len(zipf), min(batch_size, len(zipf)), seed)[0]
conn = batch_connectivity(zipf.video_pooled[torch.as_tensor(idx)]).numpy()
display(plot_connectivity(conn, gamma, title=f"Video connectivity in one Zipf batch (γ = {gamma})"))

# %% [markdown]
# **Precision and recall of pruning.** Over shuffled batches, for each γ: *precision* is the share of removed
# (anchor, negative) pairs that really are false negatives; the *base rate* is the share of all negatives that
# are false negatives — the precision of removing negatives at random. The middle panel shows their ratio,
# the **lift**: pruning helps only where the lift is well above 1. *Recall* (right) is the share of all false
# negatives that pruning removes. Lower γ marks more samples (left) and raises recall.

# %%
synthetic_curves = {name: pruning_curve(d.video_pooled, d.groups["concept"], gammas, min(batch_size, len(d)),
                                        epochs, seed)
                    for name, d in (("balanced", balanced), ("Zipf", zipf))}
display(plot_pruning_curves(synthetic_curves, title="Synthetic video features: pruning vs known false negatives"))
print("\n".join(describe_pruning(synthetic_curves, gamma)))

# %% [markdown]
# Read the curves with the definition in mind: connectivity measures how close a sample is to *everyone*,
# not to its own concept. With balanced concepts every sample has about the same connectivity, so the
# pruned ones are close to a random pick and precision sits near the base rate. With Zipf-sized concepts the
# members of the frequent concepts sit in dense regions, get the highest connectivity, and are indeed false
# negatives of many anchors: precision rises clearly above the base rate. Pruning is a bet that *frequent
# content is where false negatives come from*.
#
# ## Part 2 — real clips: Emoji Motion
#
# Emoji Motion pairs short animated Fluent Emoji clips (video features per frame) with their CLDR names
# (MiniLM sentence features). Its false negatives are real: skin-tone variants of one emoji (`base`) and
# gender variants of one activity (`concept`: man/woman/person running) share a caption almost word for
# word and look alike.

# %%
data = load_dataset(dataset, split="train")
group_names = [g for g in ("base", "concept", "subcategory") if g in data.groups]
print(f"{data.name}: {len(data)} training pairs; groups: "
      + ", ".join(f"{g} ({len(set(data.groups[g]))} distinct)" for g in group_names))
key = "concept" if "concept" in data.groups else group_names[0]

# %% [markdown]
# The similarity matrix of an evenly spaced sample of the clips, sorted by concept (most concepts have only one
# to four clips, so their blocks are tiny): compare how dark the off-diagonal is with the synthetic data —
# emoji share colours, outlines and motion far beyond their concept.

# %%
display(plot_similarity_matrices({f"{data.name}: video features": (data.video_pooled, data.groups[key]),
                                  f"{data.name}: text features": (data.text_pooled, data.groups[key])}))

# %% [markdown]
# Now the same precision/recall analysis, with two notions of "the same content": the same `concept`
# (gender and skin-tone variants merged) and, where the dataset has it, the same `base` emoji (skin-tone
# variants only).

# %%
real_curves = {f"{modality} / {g}": pruning_curve(feat, data.groups[g], gammas, batch_size, epochs, seed)
               for g in [x for x in ("concept", "base") if x in data.groups][:2]
               for modality, feat in (("video", data.video_pooled), ("text", data.text_pooled))}
display(plot_pruning_curves(real_curves, title=f"{data.name}: pruning vs same-group negatives"))
print("\n".join(describe_pruning(real_curves, gamma)))
share = false_negative_share(data.text_pooled, data.groups[key], gamma, batch_size, seed)
print(f"share of influential text samples with a same-{key} partner in their batch: {share:.1%}")

# %% [markdown]
# **How to read this.** False negatives are rare in a random batch of this dataset (the base rate), so even
# a precision well above the base rate means most pruned negatives were *true* negatives — pruning then
# mainly removes useful contrast from the densest region of the space. That is one honest reason CrossCLR's
# gains can be small on a given dataset: its pruning is a heuristic on input similarity, and it pays off
# only when input similarity predicts shared content.
#
# ## The most connected clips
#
# Which emoji does CrossCLR consider most "influential" over the whole training set? (Text connectivity;
# thumbnails are the static Fluent Emoji images shipped with the dataset.)

# %%
top, top_conn = most_connected(data.text_pooled, k=n_thumbnails)
titles = [f"{data.captions[i].split(',')[0]}  (C={c:.2f})" for i, c in zip(top, top_conn)]
if data.thumbnail_fn is not None:
    display(show_thumbnails([data.thumbnail(int(i), strict=False) for i in top], titles,
                            suptitle="Most connected clips (text features)"))
else:
    print("this dataset ships no thumbnails; the most connected captions are:")
    print("\n".join(titles))

# %% [markdown]
# **Takeaways.** Connectivity is cheap (one matrix–vector product per batch) and label-free. It finds false
# negatives above chance when some content is much more frequent than the rest, and it is blind to false
# negatives between rare items. Compare the precision of the real data above with its base rate to judge
# how much of a bet pruning is on this dataset. Notebook 02 opens up the loss to see what pruning and
# weighting do to its gradient.
