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
# CrossCLR's loss for a video anchor $v_i$ is a soft-max over one positive and two kinds of negatives:
#
# $$L_v(i) = -\log \frac{\delta(v_i, t_i)}{\delta(v_i, t_i) + \sum_{k \in N_{inter}(i)} \delta(v_i, t_k)
#   + \lambda \sum_{x \in N_{intra}(i)} \delta(v_i, x)}, \qquad \delta(a, b) = e^{a^\top b / \tau}$$
#
# and the batch loss is a weighted mean of $L_v(i)$ and its text mirror, with weights
# $w_i = e^{c_i/\kappa}$ from each sample's connectivity. Here we run the **real loss** on one batch of
# real features and look at every tensor it uses.
#
# **Learning goals**
# 1. Read the two blocks of logits (inter- and intra-modality) and see which entries pruning removes.
# 2. See how τ, λ, γ, κ and the queue change which negatives carry the gradient.
# 3. Tell the paper's λ·δ form from the authors' code's λ·logit form, and see why multiplying masked
#    logits by 0 is a bug.

# %% tags=["parameters"]
dataset = "emoji_motion"
batch_size = 24              # a small batch keeps the matrices readable
queue_rows = 256             # earlier samples available to the queue slider
train_epochs = 8             # a short InfoNCE training, so the embeddings mean something
seed = 0
interactive = False          # True: sliders and toggles (needs a live kernel, e.g. JupyterLab)

# %%
# %matplotlib inline
import numpy as np
from IPython.display import display

from crossclr_lab.data import load_dataset
from crossclr_lab.lab.loss_explorer import (
    draw_explorer,
    explore,
    explorer_batch,
    explorer_widget,
    plot_intra_weight_forms,
    plot_temperature_sweep,
    temperature_sweep,
)
from crossclr_lab.train import TrainConfig, train
from crossclr_lab.utils import seed_everything

seed_everything(seed)

# %% [markdown]
# ## A batch of embeddings
#
# The loss needs two things per sample: the **embeddings** from the model (where the loss acts) and the
# **input features** (where connectivity is measured). We train a small dual encoder with plain InfoNCE for a
# few epochs — enough that matching pairs have started to move together — then take one batch.

# %%
train_data = load_dataset(dataset, split="train")
val_data = load_dataset(dataset, split="val")
model, record = train(TrainConfig(loss="infonce", epochs=train_epochs, seed=seed, progress=False),
                      train_data, val_data)
print(f"trained {train_epochs} epochs on {len(train_data)} pairs; val text→video R@1 = "
      f"{record['history'][-1]['val']['t2v_r1']:.1f}%")

batch = explorer_batch(model, train_data, batch_size, queue_rows, seed)
video_emb, text_emb, video_feat, text_feat = (batch[k] for k in ("video_emb", "text_emb", "video_feat", "text_feat"))
queue = batch["queue"]
print("batch:", [train_data.captions[i].split(",")[0] for i in batch["rows"].tolist()])

# %% [markdown]
# ## The paper's settings on this batch
#
# Top row: **inter-modality logits** $s(v_i, t_k)/\tau$ (the positive on the diagonal), **intra-modality
# logits** $s(v_i, v_k)/\tau + \log\lambda$, and each negative's **gradient share**
# $\partial L_i / \partial \text{logit}_{ik}$ — the soft-max probability it takes from the denominator, i.e.
# how hard the loss pushes it away. Grey cells are left out of the denominator: the diagonal of the intra
# block (an anchor is no negative of itself) and the columns of influential samples (thin black lines).
# Bottom row: each sample's connectivity (red = pruned), the weights $w_i$ and the per-sample losses.

# %%
result = explore(video_emb, text_emb, video_feat, text_feat)   # the paper's settings (CrossCLRLoss's defaults)
display(draw_explorer(result))
print(f"loss {result['loss']:.3f} (video anchors {result['loss_video']:.3f}, text anchors {result['loss_text']:.3f}); "
      f"pruned: {int(result['influential_video'].sum())} videos, {int(result['influential_text'].sum())} texts")
top_share = np.max(result["share_inter_video"] + result["share_intra_video"], axis=1)
print(f"largest gradient share per video anchor: mean {top_share.mean():.2f} (1 = one negative takes it all); "
      f"weights range {result['weight_video'].min():.2f}–{result['weight_video'].max():.2f}")

# %% [markdown]
# At τ = 0.03 the soft-max is sharp: the printed mean largest share says how much of each anchor's push goes
# to its single hardest negative. The weight range shows what κ does: the batch-normalised connectivity
# $c_i = C_i / \sum_j C_j$ is about $1/B$ for every sample, and dividing it by κ = 0.0035 turns small
# differences in connectivity into large differences in weight.
#
# ## Temperature
#
# The temperature decides how many negatives matter. The left panel shows the loss; the right one the
# average largest gradient share per anchor — near 1 means "one hard negative takes everything", near
# $1/(2B)$ means "all negatives are pushed equally".

# %%
sweep = temperature_sweep(video_emb, text_emb, video_feat, text_feat, temperatures=np.geomspace(0.01, 1.0, 9))
display(plot_temperature_sweep(sweep))

# %% [markdown]
# ## λ·δ (paper) versus λ·logit (authors' code)
#
# The paper multiplies each intra-modality term $\delta$ by λ. The public code multiplies the *logit* by λ,
# i.e. uses $e^{\lambda s/\tau}$. These are very different: λ·δ scales every intra negative by the same factor,
# while $e^{\lambda s/\tau}$ behaves like a *higher temperature* τ/λ for intra negatives — it flattens their
# soft-max and, for negative similarities, makes them *larger* than the inter negatives. The plot shows what
# one negative adds to the denominator as a function of its cosine similarity (log scale).

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
# shows the effect across τ; the numbers below give it for this batch.

# %%
for tau, good, bad in zip(sweep["temperature"], sweep["loss"], sweep["loss_zero_mask_bug"]):
    print(f"τ = {tau:6.3f}: loss {good:7.3f}, with the ×0 bug {bad:7.3f}  ({round(bad - good, 3) + 0.0:+.3f})")

# %% [markdown]
# ## Your turn
#
# With `interactive = True` (in JupyterLab) the cell below gives sliders for τ, λ, γ, κ and the queue size, and
# toggles for each component. Things to try:
# - Lower γ to 0.5: more columns go grey, and the gradient moves to the remaining negatives.
# - Raise κ to 1: the weights become nearly uniform; lower it and a few samples dominate the loss.
# - Turn the intra-modality negatives off: CrossCLR becomes InfoNCE plus pruning and weighting.
# - Slide the queue up: the intra-modality denominator grows with earlier batches' videos (not drawn), and
#   connectivity is measured against them too.

# %%
if interactive:
    ui = explorer_widget(video_emb, text_emb, video_feat, text_feat, queue=queue)
    display(ui)
else:
    print("interactive = False: the static figures above show the paper's settings; "
          "set interactive = True in the parameters cell for the sliders.")
