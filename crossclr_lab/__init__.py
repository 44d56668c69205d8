"""crossclr_lab: learn, explore and reproduce CrossCLR (Zolfaghari et al., ICCV 2021).

Module map, by layer (lower layers never import higher ones):

Core library
    losses/base.py        PairLoss (the shared signature and checks), LossParts (a loss's named parts)
    losses/queue.py       FeatureQueue: the FIFO memory bank of earlier batches (registered buffers)
    losses/crossclr.py    CrossCLRLoss, connectivity, influential
    losses/baselines.py   InfoNCE, NT-Xent, max-margin, MIL-NCE, debiased contrastive (the paper's Table 1)
    data/paired.py        PairedFeatures (the one data container), its Dataset, collate, group codes
    data/registry.py      load_dataset / load_splits by name
    data/emoji_motion.py  the embedded Emoji Motion dataset; data/build_emoji_motion.py rebuilds it
    data/youcook2.py      YouCook2 in COOT's layout; data/text_encoder.py MiniLM sentence features
    data/synthetic.py     generated pairs with known false negatives; data/describe.py prints a dataset card
    models.py             MLP / temporal encoders and the DualEncoder
    train.py              TrainConfig (every training default), Trainer, embed, evaluate
    metrics.py            retrieval metrics, R@K curves, chance levels, metric names and directions
    distributed.py        torchrun process group, gathers, global-batch slices
    utils.py              seeding, devices, atomic writes, run records
Experiments
    experiments.py        variants, multi-seed comparisons with paired statistics, train_models
    report.py             tables, computed verdicts and figures of runs and comparisons
Notebook companions (lab/, one per notebook)
    lab/false_negatives.py  01: what pruning removes, measured against known groups
    lab/loss_explorer.py    02: one CrossCLR step dissected, as figures and a widget
    lab/embedding_maps.py   04: UMAP maps of joint spaces and concept tightness
    lab/retrieval.py        05: free-text search over clips
    (03 uses experiments.py and report.py directly.)
Tooling
    cli.py                the ``crossclr-lab`` command (also ``python -m crossclr_lab``)
    notebooks.py          the notebook runner: sync/check the .py twins, execute under papermill
    site_build.py         `make site`: notebooks executed (cached) and rendered with Sphinx + MyST-NB
    site_check.py         the built site checked in Chromium: console errors, figures, links, search
"""

__version__ = "0.1.0"
