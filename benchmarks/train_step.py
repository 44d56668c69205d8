"""The trainer's overhead: one training step of :class:`~crossclr_lab.training.trainer.Trainer` against a minimal
hand-written loop with the same model, loss, optimiser and batches (tensor indexing of the pooled features,
forward, loss, zero_grad, backward, step). Rounds alternate the two, each timing every step of one epoch on
Emoji Motion's train split (B = 64, the demo's setting) in CPU time of this process (``time.process_time``:
on a shared machine, waiting for a core is not counted); the ratio is the per-round paired median.

``python -m benchmarks.train_step`` prints the table (``--rounds``, ``--loss``); ``python -m benchmarks.run`` runs it
as its ``train_step`` section."""

from __future__ import annotations

import argparse
import statistics
import time

import torch

ROUNDS = 7


def _trainer_step_times(train, loss: str, seed: int) -> list[float]:
    """CPU seconds between consecutive optimiser steps of one epoch of ``Trainer.fit`` (no val, no out_dir)."""
    from crossclr_lab.training.trainer import TrainConfig, Trainer

    stamps = [time.process_time()]
    trainer = Trainer(TrainConfig(loss=loss, epochs=1, progress=False, seed=seed), train, None,
                      callbacks={"on_step": lambda *_: stamps.append(time.process_time())})
    stamps[0] = time.process_time()
    trainer.fit()
    return [b - a for a, b in zip(stamps, stamps[1:])]


def _minimal_step_times(train, loss: str, seed: int) -> list[float]:
    """The same epoch as a bare loop: same model, loss, optimiser class and lr, same batch order."""
    from crossclr_lab.losses import build_loss
    from crossclr_lab.models import build_model
    from crossclr_lab.training.trainer import OPTIMIZERS, TrainConfig

    cfg = TrainConfig(loss=loss, seed=seed)
    torch.manual_seed(seed)
    model = build_model(train, cfg.encoder, cfg.embed_dim, cfg.hidden_dim, cfg.dropout)
    loss_fn = build_loss(loss)
    optimizer = OPTIMIZERS[cfg.optimizer](model.parameters(), lr=cfg.lr)
    video, text = train.video_pooled, train.text_pooled
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))
    times, last = [], time.process_time()
    for start in range(0, len(order) - cfg.batch_size + 1, cfg.batch_size):
        idx = order[start:start + cfg.batch_size]
        v, t = video[idx], text[idx]
        value = loss_fn(model.video_encoder(v), model.text_encoder(t), v, t)
        optimizer.zero_grad(set_to_none=True)
        value.backward()
        optimizer.step()
        now = time.process_time()
        times.append(now - last)
        last = now
    return times


def run(rounds: int = ROUNDS, losses: tuple[str, ...] = ("crossclr", "infonce"), log=print) -> dict:
    from crossclr_lab.data.emoji_motion import load_emoji_motion

    train = load_emoji_motion("train")
    out = {"n_train": len(train), "batch_size": 64, "rounds": rounds, "threads": torch.get_num_threads(),
           "losses": {}}
    for loss in losses:
        trainer_ms, minimal_ms, ratios = [], [], []
        _trainer_step_times(train, loss, 0), _minimal_step_times(train, loss, 0)  # warm-up
        for r in range(rounds):
            pair = {}
            for name, fn in (("trainer", _trainer_step_times), ("minimal", _minimal_step_times))[::1 - 2 * (r % 2)]:
                pair[name] = 1e3 * statistics.median(fn(train, loss, r))
            trainer_ms.append(pair["trainer"])
            minimal_ms.append(pair["minimal"])
            ratios.append(pair["trainer"] / pair["minimal"])
        out["losses"][loss] = row = {"trainer_ms": statistics.median(trainer_ms),
                                     "minimal_ms": statistics.median(minimal_ms),
                                     "ratio": statistics.median(ratios), "ratios": ratios}
        log(f"  train step {loss}: trainer {row['trainer_ms']:.2f} ms, minimal loop {row['minimal_ms']:.2f} ms, "
            f"paired ratio {row['ratio']:.2f}x")
    return out


def table(result: dict) -> list[str]:
    """The Markdown lines of :func:`run`'s result: a sentence on the setting and the table."""
    lines = [f"Emoji Motion train split ({result['n_train']} pairs), batch {result['batch_size']}, {result['rounds']} "
             f"alternating rounds, {result['threads']} torch thread(s); median CPU time per step of one epoch, "
             "ratio = per-round paired median. Target: trainer / minimal <= 1.15x.", "",
             "| loss | trainer step, CPU ms | minimal loop step, CPU ms | trainer / minimal (paired median) |",
             "|---|---|---|---|"]
    for loss, row in result["losses"].items():
        lines.append(f"| {loss} | {row['trainer_ms']:.2f} | {row['minimal_ms']:.2f} | {row['ratio']:.2f}x |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--loss", nargs="+", default=["crossclr", "infonce"])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    result = run(args.rounds, tuple(args.loss))
    print()
    print("\n".join(table(result)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
