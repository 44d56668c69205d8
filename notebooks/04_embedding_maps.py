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
# A dual encoder maps every video clip and every caption to a point of one joint space (here 256-d, unit
# length). Retrieval only uses distances in that space, so *what the space looks like* — which clips sit
# together, how far a clip sits from its caption — explains the numbers of notebook 03. We draw it with
# UMAP, once for InfoNCE and once for CrossCLR, and measure what the pictures suggest.
#
# **Learning goals**
# 1. Read a UMAP map of a joint space with both modalities in it, and know what it can and cannot show.
# 2. See the *modality gap*: videos and captions occupy different regions even when pairs are matched.
# 3. Measure how tightly the variants of each concept cluster (intra/inter distance ratio, silhouette), and
#    compare that number between InfoNCE and CrossCLR instead of trusting the picture.

# %% tags=["parameters"]
dataset = "emoji_motion"   # "emoji_motion" (thumbnails), "synthetic" or "folder" (coloured points only)
data_root = None           # dataset "folder": the folder of your features (docs/dataset-format.md)
split_kind = "concept"     # emoji_motion: which split decides the held-out (test) clips
map_split = "test"         # the clips drawn and measured: "test" (unseen concepts) or "train"
epochs = 12                # training epochs of each model
seed = 0
max_points = 400           # clips drawn on a map (whole concepts are sampled); the measure uses all clips
n_neighbors = 15           # UMAP: size of the neighbourhood it preserves (small: local detail)
min_dist = 0.1             # UMAP: how tightly it may pack points
interactive = False        # True: a widget to recolour the maps and toggle the pair lines

# %%
# %matplotlib inline
import torch
from IPython.display import Markdown, display

from crossclr_lab.data import load_splits
from crossclr_lab.experiments import Variant, train_models
from crossclr_lab.lab.embedding_maps import (
    format_tightness,
    joint_umap,
    map_widget,
    plot_joint_maps,
    sample_concepts,
    tightness_table,
)
from crossclr_lab.train import TrainConfig, embed

# %% [markdown]
# ## Two models on the same data
#
# Both models have the same encoders, seed, data and schedule; only the loss differs: InfoNCE (CLIP-style,
# inter-modality negatives only) and CrossCLR with the paper's settings (intra-modality negatives, pruning of
# influential samples, connectivity weights). Each is selected on the validation split.

# %%
kwargs = {"split_kind": split_kind} if dataset == "emoji_motion" else {}
train, val, shown_split = load_splits(dataset, ("train", "val", map_split), data_root=data_root, **kwargs)
group = shown_split.default_group()
config = TrainConfig(epochs=epochs, warmup_epochs=min(2.0, epochs / 4), seed=seed, group=group, progress=False)
models = train_models([Variant("InfoNCE", "infonce"), Variant("CrossCLR", "crossclr")], train, val, config)
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
print(f"mapped {len(shown)} pairs from {len(set(shown.groups[group]))} {group}s")

# %% [markdown]
# **Figure 1 — the joint space, both modalities.** Left InfoNCE, right CrossCLR. Each video clip is drawn as
# its emoji thumbnail (grey dots: clips without a thumbnail, and every clip of the synthetic data), each
# caption as a black ×, and a grey line joins every clip to its own caption. Long lines are the modality
# gap: contrastive training lines up the *directions* of pairs but typically leaves videos and captions in
# two separate regions; retrieval still works because what matters is which caption is *nearest*.

# %%
plot_joint_maps(maps, shown, color_by=None if has_thumbnails else group, thumbnails=has_thumbnails)

# %% [markdown]
# **Figure 2 — coloured by group.** The same maps, each point coloured by its coarser group (the emoji's
# category for Emoji Motion; the concept for synthetic data), videos as ● and captions as ▲. If a model has
# learned semantics beyond the exact pairs, points of one colour gather in each modality.

# %%
colour_group = "category" if "category" in shown.groups else group
plot_joint_maps(maps, shown, color_by=colour_group, pair_lines=False)

# %% [markdown]
# ## Measuring what the maps suggest
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
rows = tightness_table(spaces, labels)
display(Markdown(format_tightness(rows)))

# %% [markdown]
# The comparison in one line per modality, computed from the table (a lower ratio means that model's space
# keeps a concept's variants closer together):

# %%
by_name = {r["space"]: r for r in rows}
for part in ("video", "text", "joint"):
    a, b = by_name[f"InfoNCE · {part}"], by_name[f"CrossCLR · {part}"]
    tighter = "CrossCLR" if b["ratio"] < a["ratio"] else "InfoNCE"
    print(f"{part:>5}: ratio InfoNCE {a['ratio']:.3f} vs CrossCLR {b['ratio']:.3f} -> tighter: {tighter} "
          f"(silhouette {a['silhouette']:.3f} vs {b['silhouette']:.3f}); one seed, so treat small gaps as noise")

# %% [markdown]
# **How to read the comparison.** CrossCLR is *designed* to keep semantically related samples together:
# pruned influential samples are never pushed away, and the intra-modality term spreads out mostly the weakly
# connected ones. If its ratio comes out lower than InfoNCE's, the design did what it aims at on this data. If it
# does not, remember what the "influential" samples of Emoji Motion are: near-duplicate skin-tone and gender
# variants, whose input features are so alike that both losses already keep them close (compare the "input"
# rows), so there is little left for pruning to protect. Either way a tighter concept cluster is not the same
# as better exact retrieval: when the variants of a concept sit on top of each other, telling "thumbs up:
# medium skin tone" from "thumbs up: dark skin tone" gets harder (notebook 03's exact vs semantic metrics).
# The absolute distances tell one more thing: the *inter* column says how much of the sphere a model spreads
# its items over, which the ratio divides out — two spaces with the same ratio can be very differently spread.
# This is one model per loss and one seed; rerun with other seeds before drawing conclusions.

# %% [markdown]
# ## Explore (interactive)
#
# With `interactive = True` a widget redraws the maps (the UMAP layouts are kept) coloured by any group of
# the dataset, or as thumbnails, with or without the pair lines.

# %%
if interactive:
    ui = map_widget(maps, shown, color_by=colour_group)
    display(ui)
else:
    print("set interactive = True in the parameters cell for the widget")

# %% [markdown]
# ## What to take away
#
# - One map can hold both modalities; the lines between pairs show the modality gap.
# - Use maps to form a hypothesis, and a number computed in the original space to test it.
# - "Tighter concepts" and "better exact retrieval" pull in different directions when the false negatives
#   are near-duplicates.
#
# Next: notebook 05 ranks clips for free-text queries with these kinds of models.
