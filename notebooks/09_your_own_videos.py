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
# # 09 — Your own videos
#
# *CrossCLR lab · paper: [Zolfaghari et al., CrossCLR, ICCV 2021 (arXiv 2109.14910)](https://arxiv.org/abs/2109.14910)
# · every symbol and term: [NOTATION](NOTATION.md) · [all notebooks](README.md) ·
# previous: [← 08 Input features](08_input_features.ipynb)*
#
# Everything so far ran on features someone else extracted. Here a folder of **video files** and a caption
# file become a dataset of expert features — the same experts as Emoji Motion's (EfficientNet-Lite0
# `appearance` per frame, the 4x4 `motion` grid, MiniLM sentences for the captions) — and the whole kit runs
# on it. The command line does the same: `crossclr-lab extract VIDEO_DIR --captions CAPTIONS --out DATASET_DIR`.
#
# By default the notebook first *makes* its videos, offline, from the kit's own emoji thumbnails: each clip is
# one emoji moving one way (sliding left or right, moving up or down, growing, shrinking, spinning), written as
# a real mp4 file and captioned with *what* and *how* — "a red apple sliding to the left". On such clips both
# experts have something to explain: the appearance says *what*, the motion grid says *how*. Set `video_dir`
# and `captions` to your own folder to run everything on your clips instead.
#
# **Learning goals**
# 1. Turn video files and captions into expert features, and read what the extraction reports.
# 2. Describe a dataset before training: sizes, and how CrossCLR's connectivity weighting sees its features.
# 3. Compare CrossCLR and InfoNCE, and appearance vs motion vs both, with paired t-tests over seeds.
# 4. Search your clips with free text.

# %% tags=["parameters"]
from typing import Optional  # the type of the parameters that may be None (papermill reads it)

video_dir: "Optional[str]" = None  # your videos (mp4, webm, mkv, mov, avi, gif, webp); None: make emoji clips
captions: "Optional[str]" = None  # CSV `file,caption[,split,group]` or .jsonl; None: the made clips'
emojis: list[str] = ["red apple", "banana", "pizza", "watermelon", "cat", "rabbit", "tulip", "sunflower", "lemon",
          "hamburger", "snail", "cactus"]   # the emoji of the made clips (CLDR names); 7 motions each
out: str = "runs/nb09"     # where the made clips, the dataset and the feature cache go
seeds: list[int] = [0, 1, 2, 3, 4]  # each model is trained once per seed (a paired t-test needs 2 or more; 5 is better)
epochs: int = 30           # training epochs per model
batch_size: int = 32       # capped at the number of training clips
queries: list[str] = ["a cat spinning", "a fruit sliding to the left", "something growing"]  # free-text searches
threads: int = 1           # torch CPU threads (small models run fastest on 1)

# %%
# %matplotlib inline
from pathlib import Path

import matplotlib.pyplot as plt
from IPython.display import display

from crossclr_lab.data.folder import load_folder
from crossclr_lab.experiments.comparison import Variant, run_comparison
from crossclr_lab.experiments.data_card import describe
from crossclr_lab.experts.extract import extract_videos
from crossclr_lab.experts.video import SUFFIXES, read_clip
from crossclr_lab.lab.findings import Table, show
from crossclr_lab.lab.input_features import plot_connectivity_distributions, weight_share_table
from crossclr_lab.lab.retrieval import ClipSearch, quiet_progress_bars
from crossclr_lab.lab.your_videos import expert_table, expert_verdict, loss_table, make_clips, paired_verdict
from crossclr_lab.training.trainer import TrainConfig
from crossclr_lab.utils import use_threads

use_threads(threads)
quiet_progress_bars()      # the text encoder's loading bars would stay frozen in the saved notebook
out = Path(out)

# %% [markdown]
# ## 1. Video files and captions
#
# Without a folder of your own, one clip per emoji and motion is rendered and written as an H.264 mp4
# (96x96, 24 frames at 12 frames/s); `captions.csv` names each file with its caption.

# %%
if video_dir is None:
    video_dir = out / "clips"
    captions = make_clips(video_dir, emojis)
elif captions is None:
    raise ValueError("set captions to your caption file (CSV with a header `file,caption`, or .jsonl)")
video_dir, captions = Path(video_dir), Path(captions)
files = sorted(p for p in video_dir.rglob("*") if p.suffix.lower() in SUFFIXES)
print(f"{len(files)} video files in {video_dir}; captions: {captions}")
print("\n".join(captions.read_text(encoding="utf-8", errors="replace").splitlines()[:4]))

# %% [markdown]
# Each clip is read back through the decoder `extract` uses: `T = 8` frames at `floor((k + 0.5) n / T)`,
# resized to 160x160 for the appearance network. Here are the sampled frames of the first few clips.

# %%
files = files[::max(1, len(files) // 4)][:4]          # four clips spread over the folder
fig, axes = plt.subplots(len(files), 8, figsize=(10, 1.4 * len(files)), squeeze=False, constrained_layout=True)
for row, path in zip(axes, files):
    clip = read_clip(path)
    for k, ax in enumerate(row):
        ax.imshow(clip.pixels[clip.slots[k]])
        ax.set_xticks([])
        ax.set_yticks([])
        if k == 0:
            ax.set_ylabel(path.stem, fontsize=7, rotation=0, ha="right", va="center")
        if path == files[0]:
            ax.set_title(f"frame {k + 1}", fontsize=8)
fig.suptitle("The 8 sampled frames of each clip, as the appearance network sees them")
plt.show()

# %% [markdown]
# ## 2. Extract: one call (or `crossclr-lab extract`)
#
# Features are cached per video (keyed by the file's hash and the extraction settings), so rerunning this
# cell extracts only new or changed videos. A file that cannot be read, a caption naming a missing file or a
# video without a caption is listed in the report and left out; the rest still makes the dataset.

# %%
dataset = out / "dataset"
result = extract_videos(video_dir, captions, dataset, cache_dir=out / "cache", overwrite=True, progress=False)
print(f"{result.videos} videos -> {result.items} items {result.splits}: {result.extracted} extracted, "
      f"{result.cached} from the cache, {result.seconds:.1f} s")
print(f"{len(result.problems)} bad inputs (report: {result.report})")
for problem in result.problems[:10]:
    print(f"  {problem}")

# %% [markdown]
# ## 3. The data card
#
# `describe` prints what the folder holds and how CrossCLR's connectivity weighting would treat each view: the
# largest share one sample takes of a batch's weights (uniform weights give 1/B). The histograms show the
# connectivity `C_i` (mean cosine of a clip's input features to the rest of its batch) behind those weights,
# for each expert alone (the `video` view's cosines are nearly the appearance expert's: its 1280 dimensions
# outweigh the motion grid's 16).

# %%
print(describe("folder", str(dataset)))

# %%
views = ("video", "appearance", "motion")
sets = {view: tuple(load_folder(dataset, s, video_view=view) for s in ("train", "val", "test")) for view in views}
train = sets["video"][0]
batch = min(batch_size, len(train))
experts_only = {view: sets[view] for view in ("appearance", "motion")}   # "video" lies under "appearance"
fig = plot_connectivity_distributions(experts_only, weight_share_table(experts_only, batch, epochs=5),
                                      batch_size=batch)
display(fig)

# %% [markdown]
# ## 4. CrossCLR vs InfoNCE
#
# Both losses train the same small MLP heads on the default pair (`video` = appearance and motion side by
# side, ↔ `text`), once per seed; the test split is retrieved in both directions. Δ is the paired difference
# over seeds, tested with a paired t-test (t with n − 1 degrees of freedom); `*` marks p < 0.05.

# %%
config = TrainConfig(epochs=epochs, batch_size=batch, progress=False)
seed0_models = {}


def keep_seed0(name, seed, model):
    if seed == seeds[0]:
        seed0_models[name] = model


losses = run_comparison([Variant("crossclr", "crossclr"), Variant("infonce", "infonce")], seeds, sets["video"],
                        config, on_model=keep_seed0, log=lambda line: None)
table = loss_table(losses)
show(table)
show(paired_verdict(table))

# %% [markdown]
# ## 5. Appearance vs motion vs both
#
# CrossCLR again, on each expert alone; "both" is the `video` view of section 4.
#
# What to expect from each expert: the appearance network sees *what* is in each frame. The motion grid
# records *where* the picture changed between consecutive frames, not in which direction; the MLP heads
# average the 8 frames before anything else, so a clip sliding left and one sliding right give the same mean
# motion grid. Whatever the table shows, that is the first suspect when the motion expert retrieves
# little (exercise 4 tries an encoder that keeps the order of the frames).

# %%
by_view = {view: run_comparison([Variant("crossclr", "crossclr")], seeds, sets[view], config,
                                log=lambda line: None) for view in ("appearance", "motion")}
by_view["both"] = losses
experts = expert_table(by_view)
show(experts)
show(expert_verdict(experts))

# %% [markdown]
# ## 6. Search your clips with free text
#
# The query is embedded with the same MiniLM as the captions and matched against the test clips in each
# seed-0 model's joint space. The captions are shown only to judge the hits: the search sees the video
# features alone.

# %%
search = ClipSearch(seed0_models, sets["video"][2])
for query in queries:
    hits = search.search(query, k=min(3, len(search.gallery)))
    rows = [[str(r + 1), *(f"{h[r].caption} ({h[r].score:.2f})" for h in hits.values())]
            for r in range(len(next(iter(hits.values()))))]
    show(Table(f"search: {query}", ["rank", *hits], rows), name=f"search_{query}")

# %% [markdown]
# ## Exercises
#
# 1. Point `video_dir` and `captions` at a folder of your own clips (phone videos, GIFs) and rerun. Which
#    expert carries your captions, and does CrossCLR's weighting behave differently on your features?
# 2. Write captions that say only *what* (drop the motion words) and rerun: what happens to the motion
#    expert's row in the table of section 5?
# 3. Add a second caption per clip (a row with the same file). The items get ids `<clip>#0`, `<clip>#1` and
#    share the group `video`: how does that change the number of false negatives CrossCLR can prune?
# 4. Train with `TrainConfig(encoder="temporal", ...)` (a small transformer over the 8 frames instead of their
#    mean) and rerun sections 4 and 5: does the motion expert now tell left from right?
#
# Costs, on 2 cores: a rerun with the same clips reads their features from the cache (about 90 s in all, most of
# it the 20 trainings); new clips are extracted first (about 2 s per clip: decoding and the appearance network);
# the temporal encoder of exercise 4 trains far slower than the MLP (benchmarks/README.md, "End to end": about
# 50x per epoch), so try it with fewer `seeds` first.
