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
    data/provenance.py    where loaded data came from (source, fingerprint), for records and resume checks
    data/folder.py        your own features in the documented folder format (docs/dataset-format.md)
    data/appearance.py    the builder's pretrained appearance expert (EfficientNet-Lite0, the `build` extra)
    data/view_pairs.py    any two of Emoji Motion's views (text, appearance, motion, handcrafted) as a pair
    data/weight_share.py  how evenly CrossCLR's connectivity weighting spreads a batch (largest weight share)
    models.py             MLP / temporal encoders and the DualEncoder
    train.py              TrainConfig (every training default), Trainer, embed, evaluate, divergence checks
    checkpoint.py         checksummed checkpoints and the run identity a resume must match
    runs.py               run folders: one writer (a lock), nothing replaced unless asked
    model_cache.py        train once, reuse: trained models cached by data, loss, seed and settings
    pretrained.py         the small checkpoints the kit ships (data/pretrained/): notebook 03's seed-0 models
    metrics.py            retrieval metrics, R@K curves, chance levels, metric names and directions
    captioning.py         a GRU captioner on frozen clip vectors; caption_metrics.py: COCO metrics and RE@4
    distributed.py        torchrun process group, gathers, global-batch slices
    utils.py              seeding, devices, atomic writes, safe normalisation, run records and provenance
    checks.py             argument checks shared by every layer (positive, int, number range, choice)
    stats.py              paired differences over seeds: the t-test behind every "beyond seed noise" star
Experiments
    experiments.py        variants, multi-seed comparisons with paired statistics, train_models
    report.py             tables, computed verdicts and figures of runs and comparisons
    caption_compare.py    captioners on CrossCLR / InfoNCE / raw clip vectors over seeds (``crossclr-lab caption``)
Notebook companions (lab/, one per notebook) and what they share
    lab/findings.py         tables and verdicts computed from them, with claims a test checks against the tables
    lab/exercises.py        checkers of the notebooks' "implement it yourself" exercises
    lab/primer.py           00: InfoNCE on a few 2-D points, what the temperature does
    lab/false_negatives.py  01: what pruning removes, measured against known groups
    lab/loss_explorer.py    02: one CrossCLR step dissected, as figures and a widget
    lab/training.py         03: verdicts of comparisons and ablations, loss curves on one scale
    lab/embedding_maps.py   04: UMAP maps of joint spaces, concept tightness, the modality gap
    lab/retrieval.py        05: free-text search over clips, compared by rank
    lab/youcook2_table.py   06: the paper's Table 1, its settings, a stand-in in COOT's file layout
    lab/captioning.py       07: what the captioner sees and says
    lab/input_features.py   08: when the input features decide; other modality pairs
Tooling
    cli.py                the ``crossclr-lab`` command (also ``python -m crossclr_lab``)
    notebooks.py          the notebook runner: sync/check the .py twins, execute under papermill
    site_build.py         `make site`: notebooks executed (cached) and rendered with Sphinx + MyST-NB
    site_check.py         the built site checked in Chromium: console errors, figures, links, search
"""

__version__ = "0.1.0"
