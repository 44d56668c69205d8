# ---
# jupyter:
#   kernelspec:
#     display_name: Python (crossclr-lab)
#     language: python
#     name: crossclr-lab
# ---

# %% [markdown]
# # 00 — A contrastive primer: InfoNCE on a few points
#
# *CrossCLR lab · paper: [Zolfaghari et al., CrossCLR, ICCV 2021 (arXiv 2109.14910)](https://arxiv.org/abs/2109.14910)
# · every symbol and term: [NOTATION](NOTATION.md) · [all notebooks](README.md) ·
# next: [01 False negatives →](01_false_negatives.ipynb)*
#
# Before CrossCLR's pruning and weighting, the loss it builds on: **InfoNCE**. A batch holds pairs (video i,
# caption i). Each video should be more similar to its own caption (the *positive*) than to every other caption
# in the batch (the *negatives*). InfoNCE turns that into a classification: a soft-max over the captions, with
# the right answer being caption i.
#
# **Learning goals**
# 1. Write InfoNCE yourself in a few lines and check it against the library's `InfoNCELoss`.
# 2. See what the temperature τ does to the soft-max and to the loss.
# 3. Know what the later notebooks add: CrossCLR changes *which* negatives count (01, 02) and *how much* each
#    anchor counts (02, 08).
#
# No training here: everything runs in a second.

# %% tags=["parameters"]
n_pairs: int = 6                 # pairs in the toy batch
noise: float = 0.35              # how far each caption sits from its video (larger: some sit nearer another video)
taus: list[float] = [1.0, 0.3, 0.1, 0.03]  # temperatures to compare; 0.03 is the paper's
anchor: int = 2                  # the video whose soft-max is drawn (try each one)
seed: int = 0

# %%
# %matplotlib inline
import math

import torch

from crossclr_lab.lab.findings import show
from crossclr_lab.lab.primer import plot_points, plot_softmax, temperature_table, temperature_verdict, toy_pairs
from crossclr_lab.losses import InfoNCELoss

video, text = toy_pairs(n_pairs, noise=noise, seed=seed)
print(f"video {tuple(video.shape)}, text {tuple(text.shape)}; caption norms "
      f"{[round(x, 2) for x in text.norm(dim=1).tolist()]} (only directions count)")

# %% [markdown]
# ## The batch
#
# Two dimensions so that we can see everything. Each video (circle) and its caption (cross of the same colour)
# are drawn after L2 normalisation: a contrastive loss compares *directions* (cosine similarity), not lengths.

# %%
plot_points(video, text)

# %% [markdown]
# ## InfoNCE in ten lines
#
# With unit vectors $v_i$, $t_k$ and temperature τ, the loss of video anchor $i$ is
#
# $$L_v(i) = -\log \frac{\exp(v_i^\top t_i / \tau)}{\sum_k \exp(v_i^\top t_k / \tau)}$$
#
# — a cross-entropy whose "class" is the own caption. Text anchors mirror it, and the loss averages both
# directions. Written out:

# %%
def my_infonce(v, t, tau):
    """v, t: [N, D] embeddings of N pairs -> symmetric InfoNCE (a number)."""
    v = v / v.norm(dim=1, keepdim=True)                  # cosine similarity = dot product of unit vectors
    t = t / t.norm(dim=1, keepdim=True)
    logits = v @ t.T / tau                               # [N, N]: row i = video i against every caption
    log_p_v = logits - torch.logsumexp(logits, dim=1, keepdim=True)       # log soft-max over captions
    log_p_t = logits.T - torch.logsumexp(logits.T, dim=1, keepdim=True)   # caption anchors: over videos
    loss_v = -log_p_v.diagonal().mean()                  # the positive of row i is column i
    loss_t = -log_p_t.diagonal().mean()
    return float((loss_v + loss_t) / 2)


# %% [markdown]
# The library's version (used for every training in the kit) must give the same number at every τ:

# %%
for tau in taus:
    mine, library = my_infonce(video, text, tau), float(InfoNCELoss(temperature=tau)(video, text))
    print(f"τ = {tau:<5g} my_infonce {mine:.6f}   InfoNCELoss {library:.6f}   "
          f"{'same' if math.isclose(mine, library, rel_tol=1e-6) else 'DIFFERENT'}")

# %% [markdown]
# ## What the temperature does
#
# τ divides every similarity before the soft-max. Cosines lie in [−1, 1]; at τ = 1 they move the soft-max
# only a little, at τ = 0.03 (the paper's value) a difference of 0.1 in cosine becomes a factor e^{0.1/0.03} ≈ 28.
# Below: video `anchor`'s soft-max over the captions at each τ (its own caption hatched).

# %%
plot_softmax(video, text, taus, anchor=anchor)

# %% [markdown]
# The same for the whole batch: the positive's mean soft-max share, the largest share any negative takes, and the
# loss, per τ (the sentence under the table is computed from it):

# %%
show(temperature_table(video, text, taus))
show(temperature_verdict(video, text, taus))

# %% [markdown]
# ## Key takeaways
#
# - InfoNCE is a soft-max classification of the right partner among the batch; the other items of the batch are
#   the negatives, whether or not they really differ (notebook 01: *false negatives*).
# - τ sets how sharply the soft-max separates: small τ rewards a right ranking strongly and punishes a wrong one
#   strongly, and the gradient concentrates on the few negatives nearest the anchor (notebook 02).
# - CrossCLR keeps this loss and changes two things: it removes highly connected samples from the negatives
#   (pruning, γ) and weights each anchor by its connectivity (κ); it also adds negatives of the same modality (λ).
#
# ## Exercises
#
# **1. Equal scores.** When every caption scores the same for an anchor (τ very large), the soft-max is uniform.
# What is the loss then? Compare your answer with the note under the table and with its largest-τ row.
#
# **2. A wrong nearest caption.** Set `noise = 1.0` in the parameters cell and run the notebook again. Which
# videos now sit nearer another caption than their own (the verdict names them)? What happens to their loss as τ
# falls, and why does that make a small τ risky when the batch holds a *false negative* (a caption that really
# does describe the video)? Cost: the whole notebook reruns in seconds (it trains nothing).

# %%
print(f"exercise 1, to compare: log(n_pairs) = {math.log(n_pairs):.3f}")
