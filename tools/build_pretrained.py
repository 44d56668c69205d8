"""Rebuild the small checkpoints shipped in ``data/pretrained/`` (notebook 03's seed-0 CrossCLR and InfoNCE
models on Emoji Motion), after the data or the notebooks' defaults change::

    python -m tools.build_pretrained            # writes data/pretrained/ and its MANIFEST.sha256
"""

from __future__ import annotations

import argparse
import warnings
from dataclasses import replace
from pathlib import Path

import torch

from crossclr_lab.files import write_manifest
from crossclr_lab.training.pretrained import LOSSES, SHIPPED_DIR, notebook_config


def build(root: Path = SHIPPED_DIR, log=print) -> list[Path]:
    """Train the shipped models (notebook 03's seed 0, default data) and write them in float16 (also as plain
    weights + config, :func:`export`) with a manifest; returns the cache entries written."""
    from crossclr_lab.data import load_splits
    from crossclr_lab.training.model_cache import cache_path, fit_cached

    train, val, test = load_splits("emoji_motion")
    written = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for loss in LOSSES:
            config = replace(notebook_config(group=test.default_group()), loss=loss)
            path = cache_path(config, train, val, root)
            for stale in path.parent.glob(f"{loss}-seed*.pt"):
                stale.unlink()
            fit_cached(config, train, val, root, half=True, use_shipped=False)
            written.append(path)
            log(f"{loss}: {path} ({path.stat().st_size / 1e6:.2f} MB)")
    export(root)
    return written


def export(root: Path = SHIPPED_DIR) -> list[Path]:
    """Each shipped model also as plain weights + config (``<loss>.safetensors``, ``<loss>.json``: what
    :func:`crossclr_lab.load_pretrained` reads), from the cache entries in ``root``; then the manifest."""
    from crossclr_lab.data import load_splits
    from crossclr_lab.data.provenance import describe
    from crossclr_lab.training.model_cache import fit_cached
    from crossclr_lab.training.reuse import export_model

    train, val, test = load_splits("emoji_motion")
    written = []
    for loss in LOSSES:
        config = replace(notebook_config(group=test.default_group()), loss=loss)
        model, record = fit_cached(config, train, val, root, use_shipped=False)   # the entry just written: no training
        assert record["cached"], f"no cache entry for {loss} in {root}"
        inputs = {k: v for k, v in describe(train).items() if k != "data_root"}   # the shipped copy, wherever it is
        written += export_model(model, config, inputs, root / "emoji_motion", stem=loss, half=True,
                                record={k: record[k] for k in ("seed", "dataset", "epochs_run", "best_epoch")})
    write_manifest(root, [p.relative_to(root).as_posix() for pattern in ("*.pt", "*.safetensors", "*.json")
                          for p in sorted(root.rglob(pattern))])
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.build_pretrained", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(SHIPPED_DIR), help="folder (default: %(default)s)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    build(Path(args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
