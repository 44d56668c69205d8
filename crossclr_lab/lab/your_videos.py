"""Companion of notebook 09 (your own videos): real video files made offline from the kit's emoji thumbnails,
and what CrossCLR and InfoNCE learn from their extracted features, as tables and computed verdicts.

    captions = make_clips("runs/my_clips", emojis=["red apple", "cat"])   # 14 mp4 files + captions.csv
    table = loss_table(results); show(table); show(paired_verdict(table))

Each clip is one emoji (a tile of ``data/emoji_motion/thumbnails.png``) moving one way on a white canvas —
sliding left, right, up or down, growing, shrinking or spinning — captioned with *what* and *how* ("a red
apple sliding to the left"). The clips are written as real video files and read back by the same decoder
``crossclr-lab extract`` uses. Differences are paired t-tests over seeds at 5 % (t with n − 1 degrees of
freedom); a ``*`` marks p < 0.05.
"""

from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path

import numpy as np
from PIL import Image

from crossclr_lab.experts.video import write_video
from crossclr_lab.files import atomic_write_text
from crossclr_lab.lab.findings import Claim, Table, Verdict, signed
from crossclr_lab.metrics import metric_label

EMOJIS = ("red apple", "banana", "pizza", "watermelon", "cat", "rabbit", "tulip", "sunflower", "lemon",
          "hamburger", "snail", "cactus")
MOTIONS = {"left": "sliding to the left", "right": "sliding to the right", "up": "moving up",
           "down": "moving down", "grow": "growing", "shrink": "shrinking", "spin": "spinning"}
ALPHA = 0.05
METRICS = ("t2v_r1", "v2t_r1", "t2v_r5", "v2t_r5")


def emoji_tiles(labels: tuple[str, ...] | list[str]) -> dict[str, Image.Image]:
    """``{label: RGBA thumbnail}`` of Emoji Motion emoji named ``labels`` (CLDR names, e.g. "red apple")."""
    from crossclr_lab.data.emoji_motion import load_emoji_motion

    data = load_emoji_motion("all", include_static=True)
    index = {caption.split(" — ")[0]: i for i, caption in enumerate(data.captions)}
    missing = [label for label in labels if label not in index]
    if missing:
        raise ValueError(f"no Emoji Motion emoji is named {missing}; use CLDR names such as {list(EMOJIS[:3])}")
    return {label: data.thumbnail_fn(index[label]) for label in labels}


def render(tile: Image.Image, motion: str, frames: int = 24, size: int = 96, sprite: int = 40) -> np.ndarray:
    """uint8 RGB frames ``[frames, size, size, 3]``: ``tile`` moving by ``motion`` (a key of :data:`MOTIONS`)
    over white."""
    if motion not in MOTIONS:
        raise ValueError(f"motion must be one of {list(MOTIONS)}, got {motion!r}")
    out = np.empty((frames, size, size, 3), np.uint8)
    base = tile.convert("RGBA").resize((sprite, sprite), Image.Resampling.BICUBIC)
    for k in range(frames):
        u = k / max(frames - 1, 1)                             # 0 .. 1 over the clip
        scale, angle, cx, cy = 1.0, 0.0, size / 2, size / 2
        travel = (size - sprite) / 2
        if motion in ("left", "right"):
            cx += travel * (1 - 2 * u) * (1 if motion == "left" else -1)
        elif motion in ("up", "down"):
            cy += travel * (1 - 2 * u) * (1 if motion == "up" else -1)
        elif motion in ("grow", "shrink"):
            scale = 0.4 + 1.1 * (u if motion == "grow" else 1 - u)
        else:
            angle = -360.0 * u
        side = max(2, round(sprite * scale))
        im = base.resize((side, side), Image.Resampling.BICUBIC).rotate(angle, Image.Resampling.BICUBIC)
        canvas = Image.new("RGBA", (size, size), (255, 255, 255, 255))
        canvas.alpha_composite(im, (round(cx - side / 2), round(cy - side / 2)))
        out[k] = np.asarray(canvas.convert("RGB"))
    return out


def caption(label: str, motion: str) -> str:
    """What and how: ``caption("red apple", "left")`` -> ``"a red apple sliding to the left"``."""
    article = "an" if label[0].lower() in "aeiou" else "a"
    return f"{article} {label} {MOTIONS[motion]}"


def make_clips(folder: str | os.PathLike, emojis=EMOJIS, motions=tuple(MOTIONS), frames: int = 24,
               suffix: str = ".mp4") -> Path:
    """Write one video per (emoji, motion) into ``folder`` and ``folder/captions.csv`` (``file, caption`` and the
    columns ``emoji``, ``motion``, which ``extract`` ignores); returns the caption file's path. Clips of an
    earlier call in ``folder`` are replaced; a folder holding any other file is refused."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    old = [p for p in folder.iterdir() if p.name != "captions.csv"]
    others = [p.name for p in old if not (p.is_file() and p.suffix == suffix)]
    if others:
        raise ValueError(f"{folder} holds files make_clips did not write ({', '.join(sorted(others)[:3])}); "
                         "pass an empty or new folder")
    for path in old:
        path.unlink()
    tiles = emoji_tiles(list(emojis))
    rows = []
    for label, tile in tiles.items():
        for motion in motions:
            name = f"{label.replace(' ', '_')}-{motion}{suffix}"
            write_video(folder / name, render(tile, motion, frames))
            rows.append({"file": name, "caption": caption(label, motion), "emoji": label, "motion": motion})
    buf = io.StringIO()
    writer = csv.DictWriter(buf, ["file", "caption", "emoji", "motion"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return atomic_write_text(folder / "captions.csv", buf.getvalue())


# -- statistics and tables ---------------------------------------------------------------------------------------
def paired_ttest(a: list[float], b: list[float]) -> tuple[float, float, float]:
    """Paired t-test of ``a`` against ``b`` (same seeds): (mean difference, t, two-sided p) with n − 1 dof.
    ``p`` is 1 when every difference is 0 and NaN with fewer than 2 seeds."""
    from scipy import stats

    d = np.asarray(a, float) - np.asarray(b, float)
    if len(d) < 2:
        return float(d.mean()) if len(d) else math.nan, math.nan, math.nan
    if (d == d[0]).all():                                    # no spread: t is 0 or infinite
        return float(d[0]), (0.0 if d[0] == 0 else math.copysign(math.inf, d[0])), (1.0 if d[0] == 0 else 0.0)
    t, p = stats.ttest_rel(a, b)
    return float(d.mean()), float(t), float(p)


def per_seed(results: dict, variant: str, metric: str) -> list[float]:
    """``metric`` of ``variant`` in each seed of a :func:`~crossclr_lab.experiments.comparison.run_comparison`."""
    return [run["test"][metric] for run in results["variants"][variant]["runs"]]


def _mean_std(values: list[float]) -> str:
    return f"{np.mean(values):.1f} ± {np.std(values, ddof=1) if len(values) > 1 else 0.0:.1f}"


def _diff_cell(a: list[float], b: list[float]) -> tuple[str, float, float]:
    mean, _, p = paired_ttest(a, b)
    value = round(mean, 1) + 0.0
    star = "*" if p < ALPHA else ""
    return f"{signed(value)}{star} (p {p:.3f})", value, p


def loss_table(results: dict, a: str = "crossclr", b: str = "infonce", metrics=METRICS,
               name: str = "losses") -> Table:
    """Rows per metric (direction): ``a`` and ``b`` mean ± std over seeds, their paired difference and its p."""
    rows = []
    for metric in metrics:
        x, y = per_seed(results, a, metric), per_seed(results, b, metric)
        rows.append([metric_label(metric), _mean_std(x), _mean_std(y), _diff_cell(x, y)[0]])
    note = (f"{len(results['seeds'])} seeds, {results['n_test']} test items; Δ: paired t-test over seeds, "
            f"* p < {ALPHA}.")
    return Table(name, ["metric", a, b, f"Δ {a} − {b}"], rows, note)


def expert_table(results_by_view: dict[str, dict], variant: str = "crossclr", metrics=("t2v_r1", "v2t_r1"),
                 pairs=(("both", "appearance"), ("both", "motion"), ("appearance", "motion")),
                 name: str = "experts") -> Table:
    """Rows per video view (mean ± std of ``variant`` over seeds) and per pair of views (paired Δ and its p)."""
    rows = [[view, *(_mean_std(per_seed(r, variant, m)) for m in metrics)] for view, r in results_by_view.items()]
    for x, y in pairs:
        rows.append([f"Δ {x} − {y}", *(_diff_cell(per_seed(results_by_view[x], variant, m),
                                                  per_seed(results_by_view[y], variant, m))[0] for m in metrics)])
    seeds = len(next(iter(results_by_view.values()))["seeds"])
    return Table(name, ["video features", *(metric_label(m) for m in metrics)], rows,
                 f"{variant}, {seeds} seeds; Δ: paired t-test over seeds, * p < {ALPHA}.")


def _delta_claims(table: Table, row: str, column: str) -> tuple[str, list[Claim]]:
    """A phrase quoting a Δ cell and the claims behind it (its value and whether p < 0.05)."""
    cell = dict(zip(table.columns, next(r for r in table.rows if r[0] == row)))[column]
    value = float(cell.split()[0].rstrip("*").replace("−", "-").replace("+", ""))
    beyond = "*" in cell
    p = cell.split("p ")[1].rstrip(")")
    claims = [Claim(table.name, row, column, value),
              Claim(table.name, row, column, value, relation="beyond_noise" if beyond else "within_noise")]
    word = "a difference at the 5 % level" if beyond else "no difference at the 5 % level"
    return f"{column} {signed(value)} (p = {p}): {word}", claims


def paired_verdict(table: Table) -> Verdict:
    """Reads the Δ column of :func:`loss_table`: per metric, the paired difference and whether p < 0.05."""
    column = table.columns[-1]
    lines, claims = [], []
    for row in table.rows:
        phrase, cl = _delta_claims(table, row[0], column)
        lines.append(f"- {row[0]}: {phrase}")
        claims += cl
    n_beyond = sum(c.relation == "beyond_noise" for c in claims)
    head = (f"{column}, paired over seeds: {n_beyond} of {len(table.rows)} differences are significant at 5 %"
            + (" — with this few items and seeds, read the rest as no evidence either way." if n_beyond
               < len(table.rows) else "."))
    return Verdict(f"{table.name}_verdict", head + "\n\n" + "\n".join(lines), claims)


def expert_verdict(table: Table) -> Verdict:
    """Which video features served retrieval best per direction (the row maximum), and which paired differences
    between them are significant at 5 %."""
    views = [r[0] for r in table.rows if not r[0].startswith("Δ")]
    lines, claims = [], []
    for column in table.columns[1:]:
        cells = {r[0]: float(r[table.columns.index(column)].split()[0]) for r in table.rows if r[0] in views}
        best = max(cells, key=cells.get)
        claims.append(Claim(table.name, best, column, round(cells[best], 1), relation="max", among=views))
        parts = []
        for row in (r[0] for r in table.rows if r[0].startswith("Δ")):
            phrase, cl = _delta_claims(table, row, column)
            parts.append(f"{row.removeprefix('Δ ')}: {phrase.removeprefix(column + ' ')}")
            claims += cl
        lines.append(f"- {column}: highest mean with **{best}** features ({cells[best]:.1f}); " + "; ".join(parts))
    return Verdict(f"{table.name}_verdict", "\n".join(lines), claims)
