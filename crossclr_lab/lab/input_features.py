"""Notebook 08, "When does CrossCLR help? The input features decide": one loss, three input geometries.

CrossCLR's connectivity (and with it its pruning and weighting) is measured on the *input* features. This
module loads Emoji Motion with three kinds of video features — hand-crafted (PCA-centred), pretrained (the
kit's default experts) and the pretrained ones with their training mean subtracted — and measures, for
each, the connectivity distribution, the largest weight share per batch, and the CrossCLR − InfoNCE
difference after real training runs::

    sets = load_feature_sets()
    plot_connectivity_distributions(sets)
    stats = weight_share_table(sets)
    results = compare_losses(sets, seeds=[0, 1, 2], config=TrainConfig(epochs=30))
    print(delta_table(results, stats))
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from crossclr_lab.data import load_dataset
from crossclr_lab.data.emoji_motion import DEFAULT_VIDEO_FEATURES
from crossclr_lab.data.paired import PairedFeatures, random_batches
from crossclr_lab.data.spec import EVAL_SPLITS
from crossclr_lab.experiments.comparison import Variant, run_comparison
from crossclr_lab.experiments.stats import MIN_SEEDS, format_difference, significance_note
from crossclr_lab.lab.false_negatives import batch_connectivity
from crossclr_lab.losses.weight_share import weight_share_stats
from crossclr_lab.metrics import metric_label
from crossclr_lab.training.trainer import TrainConfig

DELTA_METRICS = ("t2v_r1", "t2v_r10", "v2t_r1")

# The notebook's defaults, whose 48 runs the kit ships as results (crossclr_lab.experiments.shipped_runs).
NOTEBOOK_SPLIT = "concept"
NOTEBOOK_SEEDS = (0, 1, 2, 3, 4)
NOTEBOOK_EPOCHS = 30
NOTEBOOK_BATCH = 64
NOTEBOOK_PAIRS = (("appearance", "text"), ("motion", "text"), ("appearance", "motion"))
NOTEBOOK_PAIR_SEEDS = (0, 1, 2)


def centred(splits: tuple[PairedFeatures, ...]) -> tuple[PairedFeatures, ...]:
    """``(train, val, test)`` with the mean train frame feature ``[D]`` subtracted from every frame of every split."""
    train = splits[0]
    frames = torch.cat([v[:n] for v, n in zip(train.video, train.video_lengths.tolist())])   # [frames, D]
    mean = frames.mean(0)
    return tuple(replace(s, video=s.video - mean, video_pooled=None) for s in splits)


def load_feature_sets(split_kind: str = "concept", data_root=None) -> dict[str, tuple[PairedFeatures, ...]]:
    """name -> ``(train, val, test)`` of Emoji Motion for "hand-crafted", "pretrained" (the default experts,
    ``DEFAULT_VIDEO_FEATURES``) and "centred pretrained" (those minus their train mean)."""
    def splits(features) -> tuple[PairedFeatures, ...]:
        return tuple(load_dataset("emoji_motion", s, data_root, split_kind=split_kind, video_features=list(features))
                     for s in EVAL_SPLITS)

    pretrained = splits(DEFAULT_VIDEO_FEATURES)
    return {"hand-crafted": splits(("handcrafted",)), "pretrained": pretrained,
            "centred pretrained": centred(pretrained)}


def connectivity_samples(feat: torch.Tensor, batch_size: int = 64, epochs: int = 3, seed: int = 0) -> np.ndarray:
    """Connectivity ``C_i`` of every sample of every random batch (``epochs`` shuffled epochs) of
    ``feat [N, D]``, as the loss computes it: a flat array of ``batches * batch_size`` values."""
    batches = [b for e in range(epochs) for b in random_batches(len(feat), batch_size, seed=seed + e)]
    return np.concatenate([batch_connectivity(feat[torch.as_tensor(b)]).numpy() for b in batches])


def mean_cosine(feat: torch.Tensor) -> tuple[float, float]:
    """(mean, share of negative values) of the cosine similarity between distinct rows of ``feat [N, D]``."""
    x = torch.nn.functional.normalize(feat.float(), dim=1)
    sims = x @ x.T
    off = sims[~torch.eye(len(x), dtype=torch.bool)]
    return float(off.mean()), float((off < 0).float().mean())


def weight_share_table(sets: dict, batch_size: int = 64, epochs: int = 10) -> dict[str, dict]:
    """name -> :func:`~crossclr_lab.losses.weight_share.weight_share_stats` of the pooled train video features, plus
    "text" (the captions' MiniLM embeddings, the same in every set)."""
    table = {name: weight_share_stats(train.video_pooled, batch_size, epochs) for name, (train, _, _) in sets.items()}
    first_train = next(iter(sets.values()))[0]
    table["text"] = weight_share_stats(first_train.text_pooled, batch_size, epochs)
    return table


def plot_connectivity_distributions(sets: dict, stats: dict, batch_size: int = 64, epochs: int = 3):
    """Two panels: the connectivity ``C_i`` of training samples in random batches, and the largest weight
    share per batch (log scale; uniform weights and the 0.1 mark drawn). Returns the Figure."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13, 4.2), layout="constrained")
    left, right = fig.subplots(1, 2)
    for j, (name, (train, _, _)) in enumerate(sets.items()):
        conn = connectivity_samples(train.video_pooled, batch_size, epochs)
        left.hist(conn, bins=80, histtype="step", lw=1.6, color=f"C{j}", density=True, label=name)
        shares = stats[name]["shares"]
        bins = np.logspace(np.log10(1 / batch_size) - 0.05, 0.01, 50)
        right.hist(shares, bins=bins, histtype="step", lw=1.6, color=f"C{j}", label=name)
    left.axvline(0, color="gray", ls=":", lw=1)
    left.set(title=f"Video connectivity C_i in random train batches of {batch_size}",
             xlabel="C_i = mean cosine to the other batch samples (input features)", ylabel="density")
    right.axvline(1 / batch_size, color="gray", ls=":", lw=1, label=f"uniform weights (1/{batch_size})")
    right.axvline(0.1, color="black", ls="--", lw=1, label="0.1")
    right.set(xscale="log", title="Largest weight share max_i w_i / Σ w per batch (κ = 3.5e-3)",
              xlabel="largest weight share (log scale)", ylabel="batches")
    left.legend(fontsize=9)
    right.legend(fontsize=9)
    return fig


def notebook_config(epochs: int = NOTEBOOK_EPOCHS, batch_size: int = NOTEBOOK_BATCH) -> TrainConfig:
    """The notebook's training settings (the demo's protocol); each comparison adds its semantic group."""
    return TrainConfig(epochs=epochs, batch_size=batch_size, progress=False)


def compare_losses(sets: dict, seeds: list[int], config: TrainConfig, log=print, jobs: int | None = 1,
                   cache_dir=None, use_shipped: bool = True) -> dict[str, dict]:
    """name -> :func:`~crossclr_lab.experiments.comparison.run_comparison` results of CrossCLR (the paper's defaults) vs
    InfoNCE on that feature set, same seeds and protocol (train, select on val, evaluate on test). ``jobs``: worker
    processes for the runs (``None``: one per CPU; the results are those of ``jobs=1``). With a model cache
    (``cache_dir``) a run the kit ships results for is read, not trained, unless ``use_shipped=False``."""
    variants = [Variant("crossclr", "crossclr"), Variant("infonce", "infonce")]
    results = {}
    for name, splits in sets.items():
        log(f"{name}: video input {tuple(splits[0].video.shape[1:])}")
        group = splits[2].default_group()
        results[name] = run_comparison(variants, seeds, splits, replace(config, group=group), group=group,
                                       baseline="infonce", log=log, jobs=jobs, progress=False, cache_dir=cache_dir,
                                       use_shipped=use_shipped)
    return results


def deltas(results: dict) -> dict[str, dict]:
    """name -> {metric: paired CrossCLR − InfoNCE difference
    (:func:`crossclr_lab.experiments.stats.paired_difference`)} plus
    each loss's mean."""
    out = {}
    for name, res in results.items():
        summary = res["summary"]
        out[name] = {"crossclr": summary["crossclr"]["mean"], "infonce": summary["infonce"]["mean"],
                     "crossclr_std": summary["crossclr"]["std"], "infonce_std": summary["infonce"]["std"],
                     "diff": {m: summary["crossclr"]["diff"][m] for m in DELTA_METRICS}}
    return out


def delta_table(results: dict, stats: dict) -> str:
    """Markdown: per feature set the median largest weight share (and how often the loss fell back to uniform
    weights), each loss's T→V R@1 (mean ± std) and the paired CrossCLR − InfoNCE differences, mean (sem) and p."""
    head = ("| video features | largest weight share (median) | CrossCLR T→V R@1 | InfoNCE T→V R@1 | "
            + " | ".join(f"Δ {metric_label(m)} (sem), p" for m in DELTA_METRICS) + " |")
    lines = [head, "|" + "---|" * (4 + len(DELTA_METRICS))]
    for name, d in deltas(results).items():
        diff = [d["diff"][m] for m in DELTA_METRICS]
        cells = [format_difference(x) for x in diff]
        means = [f"{d[loss]['t2v_r1']:.1f} ± {d[loss + '_std']['t2v_r1']:.1f}" for loss in ("crossclr", "infonce")]
        st = stats[name]
        share = f"{st['median']:.3f}" + (f" (Σ C <= 0 in {100 * st['fallback_fraction']:.0f} % of batches; the "
                                        f"others: {st['median_weighted']:.3f})" if st["fallback_fraction"] else "")
        lines.append(f"| {name} | {share} | " + " | ".join(means + cells) + " |")
    n = len(next(iter(results.values()))["seeds"])
    lines.append("")
    lines.append(f"{n} seed(s); Δ = paired per-seed CrossCLR − InfoNCE, mean (sem) and p-value; "
                 f"{significance_note(n, len(results) * len(DELTA_METRICS))}. "
                 "Weight share: uniform = 1/64 ≈ 0.016, one sample carrying the batch = 1.")
    return "\n".join(lines)


def reading(results: dict, stats: dict, threshold: float = 0.1) -> list[str]:
    """Sentences about the measured table, each computed from its numbers."""
    lines = []
    for name, d in deltas(results).items():
        s, r1 = stats[name], d["diff"]["t2v_r1"]
        where = s["median_weighted"]
        shares = (f"the median largest weight share is {s['median']:.3f}" if s["fallback_fraction"] == 0 else
                  f"in {100 * s['fallback_fraction']:.0f} % of batches Σ C <= 0 and the loss falls back to uniform "
                  f"weights; in the others the median largest weight share is {where:.3f}")
        spread = "weight spread over the batch" if where < threshold else "weight concentrated on few samples"
        if r1["n"] < MIN_SEEDS:
            verdict = f"too few seeds ({r1['n']}) to separate the difference from seed noise"
        elif r1["beyond_noise"]:
            verdict = (f"CrossCLR is {'better' if r1['mean'] > 0 else 'worse'} than InfoNCE beyond seed noise "
                       f"(p = {r1['p']:.3f})")
        else:
            verdict = "the two losses are within seed noise of each other"
        if s["fallback_fraction"] == 1:
            shares, spread = "Σ C <= 0 in every batch and the loss falls back to uniform weights", "no weighting"
        lines.append(f"- **{name}**: {shares} ({spread}); "
                     f"T→V R@1 Δ = {r1['mean']:+.1f} (sem {r1['sem']:.1f} over {r1['n']} seeds, paired t-test): "
                     f"{verdict}.")
    return lines


# -- other modality pairs (the paper's modality-to-modality table) ---------------------------------------------
PAIR_METRICS = ("t2v_r1", "t2v_r10", "v2t_r1", "v2t_r10")


def compare_pairs(pairs: list[tuple[str, str]], seeds: list[int], config: TrainConfig, split_kind: str = "concept",
                  log=print, jobs: int | None = 1, cache_dir=None, use_shipped: bool = True) -> dict[str, dict]:
    """``"A ↔ B"`` -> :func:`~crossclr_lab.experiments.comparison.run_comparison` results of CrossCLR vs InfoNCE
    between two of Emoji Motion's views (:func:`~crossclr_lab.data.view_pairs.load_view_pair`: A in the "video"
    slot, so ``t2v`` retrieves A from B and ``v2t`` B from A); ``jobs``, ``cache_dir`` and ``use_shipped`` as in
    :func:`compare_losses`."""
    from crossclr_lab.data.view_pairs import load_view_pair

    variants = [Variant("crossclr", "crossclr"), Variant("infonce", "infonce")]
    results = {}
    for a, b in pairs:
        splits = tuple(load_view_pair((a, b), split, split_kind=split_kind) for split in EVAL_SPLITS)
        group = splits[2].default_group()
        log(f"{a} ↔ {b}: inputs {tuple(splits[0].video.shape[1:])} and {tuple(splits[0].text.shape[1:])}")
        results[f"{a} ↔ {b}"] = run_comparison(variants, seeds, splits, replace(config, group=group), group=group,
                                                baseline="infonce", log=log, jobs=jobs, progress=False,
                                                cache_dir=cache_dir, use_shipped=use_shipped)
    return results


def pair_table(results: dict) -> str:
    """Markdown: per view pair A ↔ B each loss's R@1 / R@10 (mean ± std) both ways, and the paired CrossCLR − InfoNCE
    differences, mean (sem), p-value, * beyond seed noise."""

    head = ("| pair (A ↔ B) | CrossCLR A←B R@1 / R@10 | InfoNCE A←B R@1 / R@10 | CrossCLR B←A R@1 / R@10 | "
            "InfoNCE B←A R@1 / R@10 | Δ A←B R@1 | Δ A←B R@10 | Δ B←A R@1 | Δ B←A R@10 |")
    lines = [head, "|" + "---|" * 9]
    for name, res in results.items():
        s = res["summary"]
        means = [f"{s[loss]['mean'][f'{d}_r1']:.1f} ± {s[loss]['std'][f'{d}_r1']:.1f} / "
                 f"{s[loss]['mean'][f'{d}_r10']:.1f}" for d in ("t2v", "v2t") for loss in ("crossclr", "infonce")]
        cells = means + [format_difference(s["crossclr"]["diff"][m]) for m in PAIR_METRICS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    res = next(iter(results.values()))
    lines += ["", f"{len(res['seeds'])} seed(s), test split of {res['n_test']} pairs (chance R@1 "
              f"{res['chance']['t2v_r1']:.1f} %, R@10 {res['chance']['t2v_r10']:.1f} %); Δ = paired per-seed "
              "CrossCLR − InfoNCE, mean (sem) and p-value; "
              f"{significance_note(len(res['seeds']), len(results) * len(PAIR_METRICS))}. "
              "A←B: A retrieved from B."]
    return "\n".join(lines)


def pair_reading(results: dict) -> list[str]:
    """One computed sentence per view pair: where CrossCLR is better or worse beyond seed noise, and whether
    retrieval is above chance at all."""
    lines = []
    for name, res in results.items():
        s, chance = res["summary"], res["chance"]["t2v_r10"]
        diff = {m: s["crossclr"]["diff"][m] for m in PAIR_METRICS}
        n = diff["t2v_r1"]["n"]
        best_r10 = max(s[loss]["mean"][f"{d}_r10"] for loss in ("crossclr", "infonce") for d in ("t2v", "v2t"))
        level = (f"the best R@10 is {best_r10:.1f} % against {chance:.1f} % by chance"
                 + (" (little more than chance: the models barely align these two views, from too little "
                    "training or too little shared content)"
                    if best_r10 < 3 * chance else ""))
        if n < MIN_SEEDS:
            verdict = f"too few seeds ({n}) to tell a difference from seed noise"
        else:
            better = [metric_label(m) for m, d in diff.items() if d["beyond_noise"] and d["mean"] > 0]
            worse = [metric_label(m) for m, d in diff.items() if d["beyond_noise"] and d["mean"] < 0]
            verdict = ("; ".join(part for part in (
                f"CrossCLR better beyond seed noise on {', '.join(better)}" if better else "",
                f"worse beyond seed noise on {', '.join(worse)}" if worse else "") if part)
                or "no difference beyond seed noise on R@1 or R@10 either way")
        lines.append(f"- **{name}**: {level}; {verdict} (T→V is A←B).")
    return lines


def notebook_results(cache_dir, use_shipped: bool = True, jobs: int | None = 1, log=print) -> dict[str, dict]:
    """Every comparison the notebook runs with its defaults (the three feature sets, then the view pairs), by name:
    what the kit's builder trains and ships (``use_shipped=False``) and what the notebook reads."""
    config = notebook_config()
    sets = load_feature_sets(NOTEBOOK_SPLIT)
    results = compare_losses(sets, list(NOTEBOOK_SEEDS), config, log, jobs, cache_dir, use_shipped)
    pairs = compare_pairs(list(NOTEBOOK_PAIRS), list(NOTEBOOK_PAIR_SEEDS), config, NOTEBOOK_SPLIT, log, jobs,
                          cache_dir, use_shipped)
    return {**results, **pairs}
