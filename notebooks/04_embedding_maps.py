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
# # 04 — Embedding maps: what the joint space looks like
#
# *CrossCLR lab · paper: [Zolfaghari et al., CrossCLR, ICCV 2021 (arXiv 2109.14910)](https://arxiv.org/abs/2109.14910)
# · every symbol and term: [NOTATION](NOTATION.md) · [all notebooks](README.md) ·
# previous: [← 03 Training](03_training.ipynb) · next: [05 Retrieval and search →](05_retrieval_and_search.ipynb)*
#
# A dual encoder maps every video clip and every caption to a point of one joint space (here 256-d, unit
# length). Retrieval only uses distances in that space, so *what the space looks like* — which clips sit
# together, how far a clip sits from its caption — explains the numbers of notebook 03. We draw it with
# UMAP, once for InfoNCE and once for CrossCLR, and measure what the pictures suggest.
#
# **Learning goals**
# 1. Read a UMAP map of a joint space with both modalities in it, and know what it can and cannot show.
# 2. Measure the *modality gap* — videos and captions occupying different regions — in the space itself.
# 3. Measure how tightly the variants of each concept cluster (intra/inter distance ratio, silhouette), and
#    compare that number between InfoNCE, CrossCLR and the input features instead of trusting the picture.

# %% tags=["parameters"]
from typing import Optional  # the type of the parameters that may be None (papermill reads it)

dataset: str = "emoji_motion"  # "emoji_motion" (thumbnails), "synthetic" or "folder" (coloured points only)
data_root: "Optional[str]" = None  # dataset "folder": the folder of your features (docs/dataset-format.md)
split_kind: str = "concept"  # emoji_motion: which split decides the held-out (test) clips
map_split: str = "test"    # the clips drawn and measured: "test" (unseen concepts) or "train"
epochs: int = 12           # training epochs of each model (12 and seed 0: notebook 03's cached models)
seed: int = 0
threads: int = 1           # torch CPU threads (the small models here run fastest on 1)
max_points: int = 400      # clips mapped (whole concepts are sampled); the measures use all clips
thumbnail_points: int = 90  # of those, clips drawn as pictures on the first figure (fewer: bigger, readable)
n_neighbors: int = 15      # UMAP: size of the neighbourhood it preserves (small: local detail)
min_dist: float = 0.1      # UMAP: how tightly it may pack points
cache: bool = True         # load the models notebook 03 trained (same data, loss, seed, settings) when cached
interactive: bool = True   # a widget to recolour the maps and toggle the pair lines (live kernel); False: static

# %%
# %matplotlib inline
import numpy as np
import torch
from IPython.display import display

from crossclr_lab.data import load_splits
from crossclr_lab.experiments.comparison import Variant, train_models
from crossclr_lab.lab.embedding_maps import (
    joint_umap,
    map_widget,
    modality_gap_table,
    modality_gap_verdict,
    plot_joint_maps,
    sample_concepts,
    tightness_findings,
    tightness_table,
    tightness_verdict,
)
from crossclr_lab.lab.exercises import check_tightness_ratio
from crossclr_lab.lab.findings import show
from crossclr_lab.training.model_cache import default_cache_dir
from crossclr_lab.training.trainer import TrainConfig, embed
from crossclr_lab.utils import use_threads

use_threads(threads)

# %% [markdown]
# ## Two models on the same data
#
# Both models have the same encoders, seed, data and schedule; only the loss differs: InfoNCE (CLIP-style,
# inter-modality negatives only) and CrossCLR with the paper's settings (intra-modality negatives, pruning of
# influential samples, connectivity weights). Each is selected on the validation split. When notebook 03 ran
# with the same settings, its seed-0 models are loaded from the cache instead of trained again (a damaged,
# stale or foreign cache entry is never used: a warning line says which, and the model is trained again).

# %%
kwargs = {"split_kind": split_kind} if dataset == "emoji_motion" else {}
train, val, shown_split = load_splits(dataset, ("train", "val", map_split), data_root=data_root, **kwargs)
group = shown_split.default_group()
config = TrainConfig(epochs=epochs, warmup_epochs=min(2.0, epochs / 4), seed=seed, group=group, progress=False)
models = train_models([Variant("InfoNCE", "infonce"), Variant("CrossCLR", "crossclr")], train, val, config,
                      cache_dir=default_cache_dir() if cache else None)
embeddings = {label: embed(model, shown_split) for label, model in models.items()}   # (video [N, 256], text [N, 256])
print(f"{len(shown_split)} {map_split} pairs embedded; concepts are labelled by {group!r}")

# %% [markdown]
# ## The maps
#
# UMAP squeezes the 256-d space into 2-d while trying to keep each point's nearest neighbours. We give it
# the cosine distances between all clips *and* captions of a sample of whole concepts, so both modalities
# land on one map; `random_state` fixes the layout. **How to read it:** neighbourhoods are meaningful
# (points drawn together are close in the joint space), but distances between far-apart islands and the
# islands' sizes are not, and two maps are not aligned with each other — compare their *structure*, not
# their coordinates.

# %%
index = sample_concepts(shown_split.groups[group], max_points, seed=seed)
shown = shown_split.subset(index)
maps = {label: joint_umap(video_emb[index], text_emb[index], n_neighbors=n_neighbors, min_dist=min_dist,
                          random_state=seed)
        for label, (video_emb, text_emb) in embeddings.items()}
has_thumbnails = shown.thumbnail_fn is not None
pictured = sample_concepts(shown.groups[group], thumbnail_points, seed=seed)   # whole concepts, fewer of them
print(f"mapped {len(shown)} pairs from {len(set(shown.groups[group]))} {group}s; "
      f"{len(pictured) if has_thumbnails else 0} drawn as pictures in figure 1")

# %% [markdown]
# **Figure 1 — the joint space, both modalities.** Left InfoNCE, right CrossCLR. A subset of whole concepts
# is drawn so the pictures stay readable: one clip per concept as its emoji picture, the concept's other
# clips (skin-tone and gender variants, which sit on top of it) and any clip whose picture would cover another
# as small blue dots, clips without a licensed picture as grey dots (every clip, for the synthetic data); each
# caption is a black ×, and a dark line joins a dozen highlighted clips to their own captions (a line for
# every pair would hide the map). The legend sits under each map. The map keeps the positions computed with
# all mapped clips. Lines
# *within* one island are meaningful (a clip next to its caption); long lines between islands are not
# distances you can read (see above) — the next section measures the gap in the space itself.

# %%
plot_joint_maps(maps, shown, color_by=None if has_thumbnails else group, thumbnails=has_thumbnails,
                subset=pictured if has_thumbnails else None, one_picture_per=group if has_thumbnails else None)

# %% [markdown]
# **Figure 2 — coloured by group.** All mapped points, coloured by a coarser group (the emoji's subcategory for
# Emoji Motion, e.g. "person-sport"; the concept for synthetic data): the most frequent groups get a colour
# each and the rest one light grey, so a colour always means one group. Videos are ●, captions ▲. If a model
# has learned semantics beyond the exact pairs, points of one colour gather in each modality.

# %%
colour_group = next((g for g in ("subcategory", "category") if g in shown.groups), group)
plot_joint_maps(maps, shown, color_by=colour_group, pair_lines=False)

# %% [markdown]
# ## The modality gap, measured
#
# In the 256-d space itself: the mean cosine between a clip and its own caption, between two different clips,
# between two different captions, and between a clip and another clip's caption. Retrieval works as long as
# a clip is closer to its own caption than to other captions, whatever the distance between the two modalities.

# %%
gap = modality_gap_table(embeddings)
show(gap)
show(modality_gap_verdict(gap))

# %% [markdown]
# ## Measuring what the maps suggest: concept tightness
#
# Maps are persuasive and unreliable, so we measure in the 256-d space itself, on **every** clip of the split,
# how tightly the variants of one concept sit together:
#
# - *intra*: the mean cosine distance between two variants of the same concept (averaged over concepts);
# - *inter*: the mean cosine distance between items of different concepts;
# - *ratio* = intra / inter: 1 means variants are no closer than strangers, lower is tighter;
# - *silhouette* (scikit-learn): per item, how much closer it is to its own concept than to the nearest
#   other concept, averaged; in [−1, 1], higher is tighter.
#
# The "input" rows measure the features the models start from (video: the clips' pooled frame features;
# text: MiniLM sentence embeddings), the baseline any trained space should be compared with. "joint" puts
# both modalities of a model together (labels repeated), so the modality gap counts against it.

# %%
labels = shown_split.groups[group]
spaces = {"input · video": shown_split.video_pooled, "input · text": shown_split.text_pooled}
for label, (video_emb, text_emb) in embeddings.items():
    spaces.update({f"{label} · video": video_emb, f"{label} · text": text_emb,
                   f"{label} · joint": torch.cat([video_emb, text_emb])})
tightness = tightness_findings(tightness_table(spaces, labels))
show(tightness)
show(tightness_verdict(tightness))

# %% [markdown]
# **How to read the comparison.** CrossCLR is *designed* to keep semantically related samples together:
# pruned influential samples are never pushed away. Whether training made concepts tighter or looser than the
# input features, and which loss keeps them tighter, is what the verdict above reads from the table — on
# Emoji Motion the input features already place a concept's variants close together (they are near-duplicates),
# so a trained space can also come out *looser* than its input. Either way a tighter concept cluster is not the
# same as better exact retrieval: when the variants of a concept sit on top of each other, telling "thumbs up:
# medium skin tone" from "thumbs up: dark skin tone" gets harder (notebook 03's exact vs semantic metrics).
# The *inter* column says how much of the sphere a model spreads its items over, which the ratio divides out.
#
# ## Explore (interactive)
#
# With `interactive = True` a widget shows the maps (the UMAP layouts are kept) coloured by any group of
# the dataset, or as thumbnails, with or without the highlighted pair lines; each view is drawn once, so
# switching back and forth is immediate.

# %%
if interactive:
    ui = map_widget(maps, shown, color_by=colour_group, one_picture_per=group if has_thumbnails else None)
    display(ui)
else:
    print("set interactive = True in the parameters cell for the widget")

# %% [markdown]
# ## What to take away
#
# - One map can hold both modalities; measure the gap between them in the space, not on the map.
# - Use maps to form a hypothesis, and a number computed in the original space to test it.
# - "Tighter concepts" and "better exact retrieval" pull in different directions when the false negatives
#   are near-duplicates.
#
# ## Exercises
#
# **1. The tightness ratio.** Write `my_tightness_ratio(emb, labels)`: the mean cosine distance between two
# different items of the same concept (averaged per concept, then over concepts with at least two items),
# divided by the mean cosine distance between items of different concepts. Solution:
# [`solutions/exercises.py`](solutions/exercises.py).

# %%
def my_tightness_ratio(emb, labels):
    """emb [N, D] tensor, labels: N concept labels -> intra / inter mean cosine distance (a float)."""
    raise NotImplementedError   # your code here


result_check = check_tightness_ratio(my_tightness_ratio)

# %% [markdown]
# **2. Predict, then measure.** Shuffle the concept labels: what ratio and silhouette do you expect for a
# space where "concepts" are random? Run the cell to see (the input video features with shuffled labels).

# %%
shuffled = list(np.random.default_rng(seed).permutation(np.asarray(labels, dtype=object)))
show(tightness_findings(tightness_table({"input · video, labels shuffled": shown_split.video_pooled}, shuffled),
                        name="tightness_shuffled"))

# %% [markdown]
# **3. A question to think about.** UMAP's `n_neighbors` decides how local the map is. Rerun with
# `n_neighbors = 5` and `50`: which features of the maps survive both settings? Those are the ones worth
# believing. Cost: each rerun draws the maps again (about half a minute here; the models come from the cache).
