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
# # 05 — Retrieval curves and free-text search
#
# *CrossCLR lab · paper: [Zolfaghari et al., CrossCLR, ICCV 2021 (arXiv 2109.14910)](https://arxiv.org/abs/2109.14910)
# · every symbol and term: [NOTATION](NOTATION.md) · [all notebooks](README.md) ·
# previous: [← 04 Embedding maps](04_embedding_maps.ipynb) ·
# next: [06 YouCook2, the paper's Table 1 →](06_youcook2.ipynb)*
#
# Retrieval is what a joint video–text space is for: a caption goes in, clips come out, ranked by cosine
# similarity. This notebook looks at the whole ranking (not only R@1), separates *exact* from *semantic*
# hits, and then runs free-text queries — one that works and one that fails — and finds out why.
#
# **Learning goals**
# 1. Read R@K curves for K = 1…100 in both directions and relate them to R@1 and the median rank.
# 2. Tell exact recall (the paired item) from semantic recall (any item of the same concept).
# 3. Run a free-text query through the pipeline — sentence encoder, trained text head, nearest clips — compare
#    what two models return by *rank*, and tell which part of the pipeline a failing query trips on.

# %% tags=["parameters"]
from typing import Optional  # the type of the parameters that may be None (papermill reads it)

dataset: str = "emoji_motion"  # "emoji_motion" (searchable: MiniLM captions, thumbnails), "synthetic" or "folder"
data_root: "Optional[str]" = None  # dataset "folder": the folder of your features (docs/dataset-format.md)
split_kind: str = "concept"  # emoji_motion: "concept" holds whole concepts out for test
losses: list[str] = ["crossclr", "infonce"]
epochs: int = 12           # training epochs of each model (12 and seed 0: notebook 03's cached models)
seed: int = 0
threads: int = 1           # torch CPU threads (the small models here run fastest on 1)
max_k: int = 100           # R@K curves for K from 1 to max_k
query: str = "person juggling"  # a query ...
query_relevant: list[str] = ["juggling"]  # ... and what a relevant clip's name contains
hard_query: str = "happy cat"  # a harder query ...
hard_relevant: list[str] = ["grinning cat", "smiling cat", "cat with tears of joy"]  # ... and its relevant clip names
top_k: int = 5             # clips shown per model
search_split: str = "all"  # the clips searched: "all" (train clips included) or "test" (unseen concepts only)
cache: bool = True         # load the models notebook 03 trained (same data, loss, seed, settings) when cached
interactive: bool = True   # a query box to search with your own words (needs a live kernel); False: static

# %%
# %matplotlib inline
from IPython.display import display

from crossclr_lab.data import load_dataset, load_splits
from crossclr_lab.experiments.comparison import train_models
from crossclr_lab.lab.exercises import check_recall_at_k
from crossclr_lab.lab.findings import show
from crossclr_lab.lab.retrieval import (
    ClipSearch,
    plot_recall_with_medr,
    query_report,
    query_verdict,
    rank_table,
    retrieval_findings,
    retrieval_verdict,
)
from crossclr_lab.metrics import recall_curves
from crossclr_lab.training.model_cache import default_cache_dir
from crossclr_lab.training.trainer import TrainConfig, embed
from crossclr_lab.utils import use_threads

use_threads(threads)

# %% [markdown]
# ## One model per loss
#
# Same encoders, data, seed and schedule; only the loss differs. Each model is selected on val and evaluated
# on test (with Emoji Motion's concept split: emoji the models never saw). Models notebook 03 trained with the
# same settings are loaded from the cache (a damaged, stale or foreign entry is never used: a warning line
# says which, and the model is trained again).

# %%
kwargs = {"split_kind": split_kind} if dataset == "emoji_motion" else {}
train, val, test = load_splits(dataset, data_root=data_root, **kwargs)
group = test.default_group()
config = TrainConfig(epochs=epochs, warmup_epochs=min(2.0, epochs / 4), seed=seed, group=group, progress=False)
models = train_models(losses, train, val, config, cache_dir=default_cache_dir() if cache else None)
embeddings = {name: embed(model, test) for name, model in models.items()}
groups = test.groups[group] if group else None
print(f"test: {len(test)} pairs; semantic hits share the query's {group!r}")

# %% [markdown]
# ## R@K curves
#
# For each query we rank all test items of the other modality; R@K is the share of queries whose target is
# in the top K. **Solid lines** count only the paired item (exact recall); **dashed lines** count any item of
# the query's concept (semantic recall, always at least as high). The dotted grey line is chance for exact
# recall, K/N. Left: a caption retrieves clips; right: a clip retrieves captions. The x-axis is logarithmic,
# so the left edge is R@1, and where a solid curve crosses the dash-dotted 50 % line, K is the median rank.

# %%
curves = recall_curves(embeddings, groups=groups, max_k=max_k)
plot_recall_with_medr(curves, n=len(test), title=f"{test.name} test")

# %% [markdown]
# The same curves at a few points, with the median rank (the rank of the true partner for the middle query;
# lower is better), and what they say:

# %%
retrieval = retrieval_findings(embeddings, groups=groups)
show(retrieval)
show(retrieval_verdict(retrieval))

# %% [markdown]
# **How to read exact vs semantic.** The gap between a solid and a dashed line of one loss is retrieval that
# found the right *kind* of item but not the paired one — for emoji, usually another skin-tone or gender
# variant of the same emoji. A loss that keeps concepts together should narrow that gap; whether it also
# lifts the exact curve is an empirical question, answered above for this seed and in notebook 03 over seeds.
#
# ## Search with your own words
#
# A query goes through the same path as a caption: the **MiniLM** sentence encoder turns it into the 384-d
# feature vector the dataset's captions were stored as, each model's trained text head maps it into its joint
# space, and the clips with the highest cosine similarity come back. `search_split = "all"` searches every
# animated clip (train clips included, so a query can find an emoji the model was trained on); `"test"`
# searches unseen emoji only.
#
# Two models' cosine scores are **not comparable**: each space has its own spread (one may put every pair at
# 0.3, another at 0.7). So we compare *rankings*: where each model ranks the relevant clips, and where each model
# ranks the other's top picks. In the pictures, z says how many standard deviations a clip's score lies above
# that model's average score for the query.

# %%
searchable = test.text_pooled.shape[1] == 384   # MiniLM sentence features: free text can be embedded
if searchable:
    gallery = load_dataset(dataset, search_split, **kwargs) if dataset == "emoji_motion" else test
    search = ClipSearch(models, gallery)
    train_ids = set(train.ids)
    print(f"searching {len(gallery)} clips ({search_split}); {sum(i in train_ids for i in gallery.ids)} of them "
          "were training clips")
else:
    print(f"{dataset}'s text features are not MiniLM sentence embeddings, so a typed query cannot be put in "
          "their space: search needs dataset = 'emoji_motion'")

# %% [markdown]
# **A query that works.** The top clips of each model, then the relevant clips' ranks and the two rankings
# side by side.

# %%
if searchable:
    display(search.show(query, k=top_k))
    works = query_report(search, query, query_relevant, top_k, train_ids, name="query")
    show(works)
    show(query_verdict(works, query, top_k))
    show(rank_table(search, query, top_k, name="query_ranks"))

# %% [markdown]
# **A harder query.** The same for a query whose relevant clips exist in the gallery. The last row of the
# first table is the sentence encoder on its own, ranking the gallery's *captions* by their similarity to the
# query: if it finds a relevant caption but the models do not find the clip, the information is lost on the
# video side — the video features (an ImageNet-pretrained EfficientNet-Lite0's appearance features and a 4×4
# motion grid) may not tell a grinning cat from other round yellow faces. Whether the relevant concepts were
# trained on (the note under the table) matters too: with the concept split, test concepts are unseen.

# %%
if searchable:
    display(search.show(hard_query, k=top_k))
    hard = query_report(search, hard_query, hard_relevant, top_k, train_ids, name="hard_query")
    show(hard)
    show(query_verdict(hard, hard_query, top_k))
    show(rank_table(search, hard_query, top_k, name="hard_query_ranks"))

# %% [markdown]
# **Try it.** With `interactive = True` a query box appears (it suggests some captions; type anything and
# press Enter) with a slider for the number of clips. Queries about what the features can see — motion
# ("a person cartwheeling"), colour ("a red heart") — tend to work better than ones about small details
# ("a winking face"); a query far from any caption ("a rocket to the moon") shows what the models fall back on.

# %%
if interactive and searchable:
    ui = search.widget(query, k=top_k, options=sorted(set(gallery.captions))[:: max(1, len(gallery) // 200)])
    display(ui)
elif interactive:
    print("search is not available for this dataset (see above)")
else:
    print("set interactive = True in the parameters cell for the query box")

# %% [markdown]
# ## What to take away
#
# - R@K curves show the whole ranking; R@1 and MedR are two points on them.
# - Semantic recall credits the right kind of item; the gap to exact recall is where false negatives live.
# - Compare models by rank, not by raw cosine; and when a query fails, check each stage of its path — the
#   sentence encoder, then what the video features can represent.
#
# ## Exercises
#
# **1. R@K.** Write `my_recall_at_k(video_emb, text_emb, k)`: text→video R@K in percent — the share of captions
# (rows of `text_emb`) whose own clip (the same row of `video_emb`) is among the k clips most similar to them
# (cosine similarity; count ties against the query). Solution: [`solutions/exercises.py`](solutions/exercises.py).

# %%
def my_recall_at_k(video_emb, text_emb, k):
    """video_emb, text_emb [N, D] (row i is pair i), k -> text→video R@K in % (a float)."""
    raise NotImplementedError   # your code here


result_check = check_recall_at_k(my_recall_at_k)

# %% [markdown]
# **2. Predict, then measure.** Set `search_split = "test"` and rerun the search cells: do the two queries still
# find relevant clips? (The note under each table says how many relevant clips are training clips.) Cost:
# seconds (the search cells re-rank; nothing trains).
#
# **3. A question to think about.** Write a query that the caption ranking (last row of the tables) gets right
# but both models get wrong, and one the other way round. What does each case tell you about the text head
# and the video head?
