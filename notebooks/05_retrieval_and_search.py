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
# Retrieval is what a joint video–text space is for: a caption goes in, clips come out, ranked by cosine
# similarity. This notebook looks at the whole ranking (not only R@1), separates *exact* from *semantic*
# hits, and then lets you type your own query.
#
# **Learning goals**
# 1. Read R@K curves for K = 1…100 in both directions and relate them to R@1 and the median rank.
# 2. Tell exact recall (the paired item) from semantic recall (any item of the same concept), and see which
#    one a loss improves.
# 3. Run a free-text query through the pipeline — sentence encoder, trained text head, nearest clips — and
#    compare what different losses return.

# %% tags=["parameters"]
dataset = "emoji_motion"   # "emoji_motion" (searchable: MiniLM captions, thumbnails), "synthetic" or "folder"
data_root = None           # dataset "folder": the folder of your features (docs/dataset-format.md)
split_kind = "concept"     # emoji_motion: "concept" holds whole concepts out for test
losses = ["crossclr", "infonce"]
epochs = 12                # training epochs of each model
seed = 0
max_k = 100                # R@K curves for K from 1 to max_k
query = "happy cat"        # the default search query
top_k = 5                  # clips shown per model
search_split = "all"       # the clips searched: "all" (train clips included) or "test" (unseen concepts only)
interactive = False        # True: a query box to search with your own words

# %%
# %matplotlib inline
from IPython.display import Markdown, display

from crossclr_lab.data import load_dataset, load_splits
from crossclr_lab.experiments import train_models
from crossclr_lab.lab.retrieval import ClipSearch
from crossclr_lab.metrics import recall_curves
from crossclr_lab.report import plot_recall_curves, retrieval_table
from crossclr_lab.train import TrainConfig, embed

# %% [markdown]
# ## Train one model per loss
#
# Same encoders, data, seed and schedule; only the loss differs. Each model is selected on val and evaluated
# on test (with Emoji Motion's concept split: emoji the models never saw).

# %%
kwargs = {"split_kind": split_kind} if dataset == "emoji_motion" else {}
train, val, test = load_splits(dataset, data_root=data_root, **kwargs)
group = test.default_group()
config = TrainConfig(epochs=epochs, warmup_epochs=min(2.0, epochs / 4), seed=seed, group=group, progress=False)
models = train_models(losses, train, val, config)
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
# so the left edge is R@1 and the point where a curve crosses 50 % is the median rank (MedR).

# %%
curves = recall_curves(embeddings, groups=groups, max_k=max_k)
plot_recall_curves(curves, n=len(test), title=f"{test.name} test")

# %% [markdown]
# The same curves at a few points, with the median rank (the rank of the true partner for the middle query;
# lower is better):

# %%
display(Markdown(retrieval_table(embeddings, groups=groups)))

# %% [markdown]
# **How to read exact vs semantic.** The gap between a solid and a dashed line of one loss is retrieval that
# found the right *kind* of item but not the paired one — for emoji, usually another skin-tone or gender
# variant of the same emoji. A loss that keeps concepts together (CrossCLR's pruning stops it pushing
# variants apart) should narrow the semantic gap first; whether it also lifts the exact curve is an
# empirical question, answered above for this seed and in notebook 03 over several seeds.

# %% [markdown]
# ## Search with your own words
#
# A query goes through the same path as a caption: the MiniLM sentence encoder turns it into the 384-d
# feature vector the dataset's captions were stored as, each model's trained text head maps it into its joint
# space, and the clips with the highest cosine similarity come back. Each row shows one model's top clips
# with their captions and similarity. `search_split = "all"` searches every clip (train clips included, so a
# query can find an emoji the model was trained on); `"test"` searches unseen emoji only.

# %%
searchable = test.text_pooled.shape[1] == 384   # MiniLM sentence features: free text can be embedded
if searchable:
    gallery = load_dataset(dataset, search_split, **kwargs) if dataset == "emoji_motion" else test
    search = ClipSearch(models, gallery)
    for name, hits in search.search(query, k=top_k).items():
        print(f"{name:>9}: " + "; ".join(f"{h.caption} ({h.score:.2f})" for h in hits))
else:
    print(f"{dataset}'s text features are not MiniLM sentence embeddings, so a typed query cannot be put in "
          "their space: search needs dataset = 'emoji_motion'")

# %%
if searchable:
    display(search.show(query, k=top_k))

# %% [markdown]
# **Try it.** With `interactive = True` a query box appears (it suggests some captions; type anything and
# press Enter) with a slider for the number of clips. Queries far from any caption ("a rocket to the moon")
# show what the models fall back on: usually clips of a similar colour or motion, because that is all the
# video features contain.

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
# - A free-text query is only as good as its path into the joint space: the sentence encoder the captions
#   were embedded with, then the trained text head.
