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
# # 02 — The loss explorer
#
# *CrossCLR lab · paper: [Zolfaghari et al., CrossCLR, ICCV 2021 (arXiv 2109.14910)](https://arxiv.org/abs/2109.14910)
# · every symbol and term: [NOTATION](NOTATION.md) · [all notebooks](README.md) ·
# previous: [← 01 False negatives](01_false_negatives.ipynb) · next: [03 Training →](03_training.ipynb)*
#
# CrossCLR's loss for a video anchor $v_i$ is a soft-max over one positive and two kinds of negatives:
#
# $$L_v(i) = -\log \frac{\delta(v_i, t_i)}{\delta(v_i, t_i) + \sum_{k \in N_{inter}(i)} \delta(v_i, t_k)
#   + \lambda \sum_{x \in N_{intra}(i)} \delta(v_i, x)}, \qquad \delta(a, b) = e^{a^\top b / \tau}$$
#
# The **inter-modality** negatives $N_{inter}(i)$ are the batch's other captions; the **intra-modality**
# negatives $N_{intra}(i)$ are the batch's other videos and, optionally, the **queue**: a memory of the
# embeddings of the last $Q$ samples from *earlier* batches (first in, first out), which adds negatives beyond
# the batch without adding gradient to them. Influential samples (notebook 01) are left out of both sets. The
# text anchors $L_t(i)$ mirror all of it, and the batch loss is a weighted mean of both sides with weights
# $w_i = e^{c_i/\kappa}$, $c_i = C_i / \sum_j C_j$ from each sample's connectivity $C_i$. Here we run the
# **real loss** on one batch of real features and look at every tensor it uses, for video and for text anchors.
#
# **Learning goals**
# 1. Read the two blocks of logits (inter- and intra-modality) and see which entries pruning removes.
# 2. See how τ, λ, γ, κ and the queue change which negatives carry the gradient, on both sides.
# 3. Tell the paper's λ·δ form from the authors' code's λ·logit form, and see why multiplying masked
#    logits by 0 is a bug.
# 4. Write the loss of one anchor yourself (the exercise at the end checks it).

# %% tags=["parameters"]
from typing import Optional  # the type of the parameters that may be None (papermill reads it)

dataset: str = "emoji_motion"
data_root: "Optional[str]" = None  # dataset "folder": the folder of your features (docs/dataset-format.md)
batch_split: str = "val"     # held-out pairs the model has not learnt, so the loss has work left; "train": solved
batch_size: int = 16         # a small batch keeps the matrices readable (captions on the axes)
queue_rows: int = 128        # further samples of that split available to the queue slider
train_here: bool = False     # False: notebook 03's shipped InfoNCE model (loads in a second); True: train (~20 s)
seed: int = 0
threads: int = 1             # torch CPU threads (the small models here run fastest on 1)
interactive: bool = True     # controls beside the figure (needs a live kernel, e.g. JupyterLab); False: static

# %%
# %matplotlib inline
import numpy as np
from IPython.display import display

from crossclr_lab.data import load_splits
from crossclr_lab.lab.exercises import check_anchor_loss
from crossclr_lab.lab.findings import show
from crossclr_lab.lab.loss_explorer import (
    draw_explorer,
    explore,
    explorer_batch,
    explorer_model,
    explorer_widget,
    gamma_step_table,
    gamma_step_verdict,
    next_pruning_change,
    plot_intra_weight_forms,
    plot_temperature_sweep,
    sharpness_table,
    sharpness_verdict,
    sweep_table,
    sweep_verdict,
    temperature_sweep,
    top_loss_verdict,
    top_losses,
    weight_table,
    weight_verdict,
)
from crossclr_lab.utils import seed_everything, use_threads

seed_everything(seed)
use_threads(threads)

# %% [markdown]
# ## A batch of embeddings
#
# The loss needs two things per sample: the **embeddings** from the model (where the loss acts) and the
# **input features** (where connectivity is measured). The model is notebook 03's InfoNCE dual encoder (the kit
# ships it for Emoji Motion, so nothing trains here; `train_here = True` trains it again, about 20 s on one
# thread). We take the batch from the **held-out** split: pairs the model has never been trained on, so the
# positives do not yet win every soft-max and the loss still has something to push. (`batch_split = "train"`
# shows the opposite: a batch the model has solved, where the positive takes nearly all of each soft-max and
# the negatives' push is tiny whoever gets it.)

# %%
train_data, val_data = load_splits(dataset, ("train", "val"), data_root=data_root)
model, record = explorer_model(train_data, val_data, seed=seed, train_here=train_here)
source = {"shipped": "the shipped checkpoint", "cache": "the model cache"}.get(record["cached"], "training here")
print(f"InfoNCE model from {source}; val text→video R@1 = {record['history'][-1]['val']['t2v_r1']:.1f}%")

shown_data = {"train": train_data, "val": val_data}[batch_split]
batch = explorer_batch(model, shown_data, batch_size, queue_rows, seed)
video_emb, text_emb, video_feat, text_feat = (batch[k] for k in ("video_emb", "text_emb", "video_feat", "text_feat"))
queue = batch["queue"]
rows = batch["rows"].tolist()
captions = [shown_data.captions[i] for i in rows]
concepts = [shown_data.groups["concept"][i] for i in rows] if "concept" in shown_data.groups else None
for i, caption in enumerate(captions):
    print(f"{i:>2} {caption}")

# %% [markdown]
# ## The paper's settings on this batch
#
# Each figure shows one side; its rows are the anchors (captions on the left). Top row: the **inter-modality**
# cosine similarities $s(v_i, t_k)$ (the positive on the diagonal; the logit is $s/\tau$), the
# **intra-modality** ones $s(v_i, v_k)$ (their δ is weighted by λ), and each negative's **share of the
# negatives' push**: the gradient on logit $ik$ is the soft-max probability $p_{ik}$ the negative takes, and
# we divide it by the negatives' total $\sum_{k'} p_{ik'} = 1 - p_{i,\text{pos}}$, so each row sums to 1
# (inter and intra entries of sample k added; the scale is stretched so small shares stay visible). Grey
# cells are left out of the denominator: the diagonal of the intra block (an anchor is no negative of itself)
# and the columns of influential samples. Bottom row: each sample's scaled connectivity $\hat C_i$ with the
# γ line (red = pruned, the count in the panel's title), its share of the side's loss weight, and its loss.

# %%
result = explore(video_emb, text_emb, video_feat, text_feat)   # the paper's settings (CrossCLRLoss's defaults)
display(draw_explorer(result, "video", captions))
display(draw_explorer(result, "text", captions))

# %% [markdown]
# **Which anchors lose the most, and why?** The five largest per-anchor losses of both sides, with the batch
# samples that share the anchor's concept (false negatives) and how many of them pruning left among the
# negatives:

# %%
losses_table = top_losses(result, captions, concepts)
show(losses_table)
show(top_loss_verdict(losses_table))

# %% [markdown]
# **How much is left to learn, how sharp is the push, and how unequal are the weights?** The first table gives,
# per side, the positive's share of the whole soft-max (near 1: the anchor is solved and its negatives are
# barely pushed) and, among the negatives only, the largest single share against an equal split; the
# sentence under it is computed from the table. The second looks at the weights: the batch-normalised
# connectivities $c_i = C_i / \sum_j C_j$ sum to 1, so they *average* $1/B$ — but dividing them by a small κ
# turns whatever spread they have into large differences in weight.

# %%
sharpness = sharpness_table(result)
show(sharpness)
show(sharpness_verdict(sharpness))
weights = weight_table(result)
show(weights)
show(weight_verdict(weights, result["settings"]["weight_temperature"]))

# %% [markdown]
# ## Temperature
#
# The temperature decides how many negatives matter. The left panel shows the loss; the right one, averaged
# over the video anchors, the largest share among an anchor's negatives — near 1 means "one hard negative
# takes the whole push", near 1/(number of negatives) means "all negatives are pushed equally" — beside the
# positive's share of the whole soft-max. The table holds the same numbers; the sentence under it reads them.

# %%
sweep = temperature_sweep(video_emb, text_emb, video_feat, text_feat, temperatures=np.geomspace(0.01, 1.0, 9))
display(plot_temperature_sweep(sweep))
sweep_numbers = sweep_table(sweep)
show(sweep_numbers)
show(sweep_verdict(sweep_numbers))

# %% [markdown]
# ## What one step of γ does
#
# Pruning is a hard threshold: a sample is left out of every anchor's negatives when its scaled connectivity
# $\hat C_k$ exceeds γ. Moving γ across one sample's $\hat C_k$ therefore puts a whole negative back into
# every denominator at once, and the loss can jump. Here γ is raised from the paper's value to the first step
# that un-prunes a sample on this batch; the table says which sample changed, how much of the push it takes
# once it is a negative again, and how its side's loss moved. (In the explorer below the line over the figure
# says the same for every step you take.)

# %%
gamma_next = next_pruning_change(result)
if gamma_next is None:
    print("no sample is pruned at the paper's γ on this batch, so raising γ changes nothing")
else:
    stepped = explore(video_emb, text_emb, video_feat, text_feat, prune_threshold=gamma_next)
    step_numbers = gamma_step_table(result, stepped, captions)
    show(step_numbers)
    show(gamma_step_verdict(step_numbers))

# %% [markdown]
# ## λ·δ (paper) versus λ·logit (authors' code)
#
# The paper multiplies each intra-modality term $\delta$ by λ. The public code multiplies the *logit* by λ,
# i.e. uses $e^{\lambda s/\tau}$. These are different functions: λ·δ scales every intra negative by the same
# factor, while $e^{\lambda s/\tau}$ behaves like a *higher temperature* τ/λ for intra negatives — it flattens
# their soft-max and, for negative similarities, makes them *larger* than an inter negative of the same
# similarity. The plot shows what one negative adds to the denominator as a function of its cosine similarity
# (log scale); the printed losses give both forms on this batch.

# %%
display(plot_intra_weight_forms())
paper = explore(video_emb, text_emb, video_feat, text_feat, intra_weight_on="similarity")
code = explore(video_emb, text_emb, video_feat, text_feat, intra_weight_on="logits")
print(f"loss with the paper's form {paper['loss']:.3f}; with the code's form {code['loss']:.3f}")

# %% [markdown]
# ## Removing entries versus multiplying them by 0
#
# To drop an entry from a soft-max you must leave it out (or set its logit to −∞). The authors' code
# multiplies masked logits by 0 instead, so every "removed" entry — each pruned negative and the anchor's own
# intra-modality entry — still adds $e^0 = 1$ to the denominator. How much that matters depends on the size
# of the real terms: when the positive and the hardest negatives have logits far above 0 (small τ, trained
# embeddings) a few phantom ones are lost in the sum; when τ is large every real term is about $e^{s} \approx 1$
# and each phantom one weighs as much as a real negative. The dashed line in the temperature plot above
# shows the effect across τ, and the temperature table above gives both losses for this batch.

# %% [markdown]
# ## Your turn
#
# With `interactive = True` (in JupyterLab) the cell below shows the controls in a column beside the figure
# they change: the anchor side (video or text), sliders for τ, λ, γ, κ and the queue size, toggles for each
# component and the λ form. The figure is drawn once and then only its data change, so it follows a slider
# while you drag it; τ and κ step on logarithmic grids that pass through the paper's 0.03 and 0.0035. The line
# over the figure gives the settings, the loss and the pruned count, and names every sample whose pruning the
# last step changed. Things to try:
# - Switch to **text anchors**: do the largest losses and the pruned samples change?
# - Lower γ to 0.5: more columns go grey, and the push moves to the remaining negatives; step γ up from 0.90
#   one notch at a time and read which sample re-enters the denominators when the loss jumps.
# - Raise κ: the weight shares flatten toward uniform; lower it and fewer anchors hold the weight.
# - Turn the intra-modality negatives off: CrossCLR becomes InfoNCE plus pruning and weighting.
# - Slide the queue up: the last column of the gradient panel (Q) shows how much of each anchor's push now
#   goes to earlier batches' samples, and connectivity is measured against them too.

# %%
if interactive:
    ui = explorer_widget(video_emb, text_emb, video_feat, text_feat, queue=queue, labels=captions)
    display(ui)
else:
    print("interactive = False: the static figures above show the paper's settings; "
          "set interactive = True in the parameters cell for the controls.")

# %% [markdown]
# ## Exercises
#
# **1. The loss of one anchor.** Write `my_anchor_loss(v, t, i, tau, lam, pruned)`: the CrossCLR loss of
# video anchor `i` (no weights, no queue) for embeddings `v`, `t` `[B, D]` (normalise them first), temperature
# `tau`, intra weight `lam` (the paper's λ·δ form) and a boolean mask `pruned` `[B]` of influential samples.
# The checker compares it with `CrossCLRLoss` on random batches and names the mistake when it recognises one
# (a self-negative, λ on the logit, pruned entries kept or multiplied by 0). Solution:
# [`solutions/exercises.py`](solutions/exercises.py).

# %%
def my_anchor_loss(v, t, i, tau, lam, pruned):
    """v, t [B, D]; i an index; tau, lam floats; pruned bool [B] -> the loss of video anchor i (a float)."""
    raise NotImplementedError   # your code here


result_check = check_anchor_loss(my_anchor_loss)

# %% [markdown]
# **2. Predict, then measure.** At τ = 1, is the largest share among an anchor's negatives closer to 1 or to an
# equal share (1 / number of negatives)? And does the positive's share of the soft-max grow or shrink compared
# with τ = 0.03? Decide, then run the cell.

# %%
at_one = explore(video_emb, text_emb, video_feat, text_feat, temperature=1.0)
show(sharpness_table(at_one, name="sharpness_tau1"))

# %% [markdown]
# **3. A question to think about.** The weights use the *batch-normalised* $c_i = C_i/\sum_j C_j$. What happens
# to them when the input features are centred so that cosines average 0 (so $\sum_j C_j$ is near 0)? Try it:
# pass `video_feat - video_feat.mean(0)` to `explore` and look at the weight table.
