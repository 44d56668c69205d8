"""crossclr_lab: learn, explore and reproduce CrossCLR (Zolfaghari et al., ICCV 2021).

Module map: the folders are the layers; a module imports only from its own layer or the ones above it in this
list (``import crossclr_lab`` imports nothing but this map).

Root: what every layer uses
    checks.py             argument checks with one wording (positive, int, number range, choice)
    files.py              atomic writes, sha256 of a file, the one MANIFEST.sha256 reader/writer, the repository root
    utils.py              seeding, devices, safe normalisation, RNG states, run records and their provenance
    distributed.py        torchrun process group, gathers, global-batch slices
    metrics.py            retrieval metrics, R@K curves, chance levels, metric names and directions
    models.py             MLP / temporal encoders and the DualEncoder
losses/                   the loss and its baselines
    base.py               PairLoss (the shared signature and checks), LossParts (a loss's named parts)
    queue.py              FeatureQueue: the FIFO memory bank of earlier batches (registered buffers)
    crossclr.py           CrossCLRLoss (its switchable components and the paper's κ), connectivity, influential
    baselines.py          InfoNCE, NT-Xent, max-margin, MIL-NCE, debiased contrastive (the paper's Table 1)
    weight_share.py       how evenly CrossCLR's weighting spreads a batch (largest weight share), pruned share
data/                     paired features
    paired.py             PairedFeatures (the one data container), its Dataset, collate, group codes
    spec.py               DatasetSpec: a dataset's loader, splits, settings, default root and card hooks
    registry.py           load_dataset / load_splits by name (one spec per dataset module)
    emoji_motion.py       the embedded Emoji Motion dataset (tools/build_emoji_motion.py rebuilds it)
    youcook2.py           YouCook2 in COOT's layout
    synthetic.py          generated pairs with known false negatives
    folder.py             your own features in the documented folder format (docs/dataset-format.md)
    view_pairs.py         any two of Emoji Motion's views (text, appearance, motion, handcrafted) as a pair
    provenance.py         where loaded data came from: source and the one dataset fingerprint
experts/                  frames and text -> feature vectors (one implementation of each expert)
    frames.py             frame sampling, squaring, resizing and compositing shared by every video expert
    motion.py             the weight-free motion grid
    video.py              video files (PyAV) and animated images (Pillow) -> the sampled frames the experts see
    appearance.py         ImageNet-pretrained EfficientNet-Lite0 (the ``video``/``build`` extra)
    text_encoder.py       MiniLM sentence features of captions and queries
    extract.py            your own videos: video files + captions -> a folder dataset (``crossclr-lab extract``)
training/                 training runs
    trainer.py            TrainConfig (every training default), Trainer, embed, evaluate, divergence checks
    checkpoint.py         checksummed checkpoints and the run identity a resume must match
    runs.py               run folders: one writer (a lock), nothing replaced unless asked
    model_cache.py        train once, reuse: trained models cached by data, loss, seed and settings
    pretrained.py         reads the small checkpoints the kit ships (data/pretrained/)
experiments/              comparisons over seeds
    stats.py              paired differences over seeds: the t-test behind every "beyond seed noise" star
    comparison.py         variants, multi-seed comparisons with paired statistics, train_models; results.json
    report.py             tables, computed verdicts, figures (one colour per loss), results.md
    data_card.py          a dataset's card: splits, shapes, groups, connectivity weighting (``describe``)
captioning/               the downstream captioning test
    model.py              a GRU captioner on frozen clip vectors (vocabulary, training, decoding)
    metrics.py            BLEU, METEOR, ROUGE-L, CIDEr-D (pycocoevalcap) and RE@4
    compare.py            captioners on CrossCLR / InfoNCE / raw clip vectors over seeds (``crossclr-lab caption``)
lab/                      notebook companions, one per notebook, and what they share
    findings.py           tables and verdicts computed from them, with claims a test checks against the tables
    exercises.py          checkers of the notebooks' "implement it yourself" exercises
    live_figure.py        widget figures drawn once, then only their data redrawn (blitting); debounced drags
    primer.py 00, false_negatives.py 01, loss_explorer.py 02, training.py 03, embedding_maps.py 04, retrieval.py 05,
    youcook2_table.py 06, captioning.py 07, input_features.py 08, your_videos.py 09
Commands
    cli.py                the ``crossclr-lab`` command (also ``python -m crossclr_lab``)
    notebooks.py          the notebook runner: sync/check the .py twins, execute under papermill, copy a workspace
Not installed (tools/, beside benchmarks/): site_build, site_check, build_emoji_motion, build_pretrained, lab_browser.
"""

__version__ = "0.1.0"
