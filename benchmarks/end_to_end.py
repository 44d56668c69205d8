"""End to end: training time per epoch with the package's trainer, on Emoji Motion (and a 3-seed
comparison there) and on a YouCook2-sized synthetic set. Each part is skipped, with the reason printed,
when the trainer or the data cannot be imported or found."""

from __future__ import annotations

import time

import torch

# YouCook2-sized: ~10k clips, 30 frames x 512-d video, 20 tokens x 384-d text
YC2_FULL = {"n": 10000, "frames": 30, "video_dim": 512, "tokens": 20, "text_dim": 384}
YC2_QUICK = {**YC2_FULL, "n": 512}
STEPS_TEMPORAL_FULL = 20          # the temporal encoder's epoch is extrapolated from this many steps (2 quick)


def _trainer_api():
    """``(TrainConfig, Trainer, reason)``; the classes are None with the reason when not importable."""
    try:
        from crossclr_lab.training.trainer import TrainConfig, Trainer
    except Exception as err:  # noqa: BLE001 - any import failure is reported as the reason to skip
        return None, None, f"trainer not importable: {type(err).__name__}: {err}"
    return TrainConfig, Trainer, None


def _epoch_time(TrainConfig, Trainer, data, max_steps=None, **cfg) -> dict:
    """Seconds for one epoch (or ``max_steps`` steps, scaled to the epoch) of training, no evaluation."""
    config = TrainConfig(epochs=1, progress=False, max_steps=max_steps, **cfg)
    trainer = Trainer(config, data, None)
    steps_per_epoch = len(trainer.loader)
    start = time.perf_counter()
    trainer.fit()
    seconds = time.perf_counter() - start
    steps = trainer.step
    return {"steps_per_epoch": steps_per_epoch, "steps_run": steps, "seconds_run": seconds,
            "epoch_s": seconds / steps * steps_per_epoch, "extrapolated": steps < steps_per_epoch,
            "device": str(trainer.device)}


def synthetic_youcook2(shape: dict, seed: int = 0):
    """Random features shaped like YouCook2 (COOT layout), as a ``PairedFeatures``."""
    from crossclr_lab.data.paired import PairedFeatures

    g = torch.Generator().manual_seed(seed)
    n = shape["n"]
    return PairedFeatures(
        video=torch.randn(n, shape["frames"], shape["video_dim"], generator=g),
        video_lengths=torch.randint(shape["frames"] // 2, shape["frames"] + 1, (n,), generator=g),
        text=torch.randn(n, shape["tokens"], shape["text_dim"], generator=g),
        text_lengths=torch.randint(5, shape["tokens"] + 1, (n,), generator=g),
        captions=[f"clip {i}" for i in range(n)], ids=[str(i) for i in range(n)], name="youcook2_sized_synthetic")


def run_youcook2_sized(quick: bool, log=print) -> dict:
    TrainConfig, Trainer, reason = _trainer_api()
    if reason:
        return {"skipped": reason}
    shape = YC2_QUICK if quick else YC2_FULL
    data = synthetic_youcook2(shape)
    out = {"shape": shape, "batch_size": 64, "loss": "crossclr (defaults)", "encoders": {}}
    for encoder in ("mlp", "temporal"):
        max_steps = (2 if quick else STEPS_TEMPORAL_FULL) if encoder == "temporal" else None
        out["encoders"][encoder] = row = _epoch_time(TrainConfig, Trainer, data, max_steps=max_steps,
                                                     encoder=encoder, batch_size=64)
        note = f" (extrapolated from {row['steps_run']} steps)" if row["extrapolated"] else ""
        log(f"  youcook2-sized {encoder}: {row['epoch_s']:.1f} s/epoch{note}")
    return out


def run_emoji_motion(quick: bool, log=print) -> dict:
    TrainConfig, Trainer, reason = _trainer_api()
    if reason:
        return {"skipped": reason}
    try:
        from crossclr_lab.data.emoji_motion import load_emoji_motion

        splits = tuple(load_emoji_motion(s) for s in ("train", "val", "test"))
    except Exception as err:  # noqa: BLE001 - missing data or loader: skip with the reason
        return {"skipped": f"Emoji Motion not available: {type(err).__name__}: {str(err).splitlines()[0]}"}
    train = splits[0]
    out = {"n": {name: len(s) for name, s in zip(("train", "val", "test"), splits)}, "epoch": {}}
    for loss in ("crossclr", "infonce"):
        out["epoch"][loss] = row = _epoch_time(TrainConfig, Trainer, train, loss=loss, batch_size=64)
        log(f"  emoji motion {loss}: {row['epoch_s']:.2f} s/epoch ({row['steps_per_epoch']} steps)")
    if quick:
        out["comparison"] = {"skipped": "quick mode"}
        return out
    from crossclr_lab.experiments.comparison import Variant, run_comparison
    from crossclr_lab.experiments.report import verdict_lines

    epochs = 10
    variants = [Variant("crossclr", "crossclr"), Variant("infonce", "infonce")]
    start = time.perf_counter()
    try:
        results = run_comparison(variants, seeds=[0, 1, 2], splits=splits,
                                 config=TrainConfig(epochs=epochs, batch_size=64, progress=False),
                                 group="concept", log=lambda line: None)
        verdicts = verdict_lines(results)
    except Exception as err:  # noqa: BLE001 - another module's failure is reported, the benchmark goes on
        out["comparison"] = {"error": f"{type(err).__name__}: {err}"}
        return out
    seconds = time.perf_counter() - start
    out["comparison"] = {"variants": [v.name for v in variants], "seeds": 3, "epochs": epochs, "seconds": seconds,
                         "t2v_r1_mean": {name: entry["mean"]["t2v_r1"] for name, entry in results["summary"].items()},
                         "verdicts": verdicts}
    log(f"  emoji motion 3-seed comparison ({len(variants)} variants x 3 seeds x {epochs} epochs): {seconds:.0f} s")
    return out


def run(quick: bool, log=print) -> dict:
    out = {}
    for name, part in (("emoji_motion", run_emoji_motion), ("youcook2_sized", run_youcook2_sized)):
        try:
            out[name] = part(quick, log)
        except Exception as err:  # noqa: BLE001 - the trainer is another module: report its failure, go on
            out[name] = {"error": f"{type(err).__name__}: {err}"}
            log(f"  {name}: failed: {out[name]['error']}")
    return out
