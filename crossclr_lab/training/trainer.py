"""A small trainer for dual encoders with any of the package's contrastive losses.

Example::

    cfg = TrainConfig(loss="crossclr", epochs=10, batch_size=64)
    trainer = Trainer(cfg, train_features, val_features, out_dir="runs/demo")
    record = trainer.fit()                      # best-on-val weights are loaded at the end
    video_emb, text_emb = embed(trainer.model, test_features)

Under ``torchrun`` (a process group initialised, e.g. by :func:`crossclr_lab.distributed.torchrun_process_group`)
the same code trains data-parallel: ``batch_size`` is the *global* batch, each of the N ranks takes a
contiguous slice of ``batch_size // N`` of every global batch (:class:`~crossclr_lab.distributed.GlobalBatchSlices`),
the model is wrapped in DistributedDataParallel and the loss gathers all ranks' embeddings, each rank
computing the loss terms of its own anchors (``gather_distributed=True, local_loss=True``), so N processes
follow one process with the same batch size. Every rank embeds the full validation set (identical metrics
everywhere); only rank 0 writes the record and checkpoints.
"""

from __future__ import annotations

import copy
import datetime
import math
import os
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import BatchSampler, DataLoader, RandomSampler
from tqdm.auto import tqdm

from crossclr_lab import distributed
from crossclr_lab.checks import check_int, check_number, check_positive
from crossclr_lab.data.paired import PairedDataset, PairedFeatures, collate_paired
from crossclr_lab.data.provenance import describe
from crossclr_lab.files import atomic_write_json, atomic_write_text
from crossclr_lab.losses import LossParts, PairLoss, build_loss, loss_defaults
from crossclr_lab.metrics import lower_is_better, retrieval_metrics
from crossclr_lab.models import ENCODERS, DualEncoder, build_model
from crossclr_lab.training.checkpoint import (
    SAFE_TO_CHANGE,
    CheckpointError,
    ResumeMismatch,
    differences,
    load_checkpoint,
    run_identity,
    save_checkpoint,
)
from crossclr_lab.training.radam import ForeachRAdam
from crossclr_lab.training.reuse import export_model
from crossclr_lab.training.runs import RUN_FILES, RunError, RunFolderError, held
from crossclr_lab.utils import l2_normalize, new_run_record, resolve_device, rng_states, seed_everything, set_rng_states

# the trainer's progress, saved in every checkpoint beside the model, optimiser, scheduler, loss and RNG states
PROGRESS = ("epoch", "step", "batch_in_epoch", "bad_evals", "elapsed", "epoch_sums", "history", "step_losses", "best",
             "stopped_early", "started_utc", "epoch_loader_state")
OPTIMIZERS = {"radam": ForeachRAdam, "adamw": torch.optim.AdamW}
AMP_DTYPES = {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}
RANK_SEED_STRIDE = 1_000_003  # rank r > 0 reseeds its RNGs with seed + r * stride after the model is built
COLLAPSE_TOL = 1e-5  # unit embeddings of a whole batch closer than this to the first row: collapsed
EXPLODED_ABS = 1e12  # an embedding value beyond this means the weights blew up (healthy models give ~1-100)
DIVERGED_HINT = "start again with a lower lr (or more warm-up epochs)"


class TrainingDiverged(RunError, FloatingPointError):
    """The model's embeddings or loss stopped being meaningful (NaN/Inf, exploding values, collapse)."""


class PruningWarning(UserWarning):
    """CrossCLR's pruning removed most of an epoch's batches, or a batch's loss was exactly 0 (nothing learnt)."""


PRUNED_WARN = 0.5  # warn when an epoch's mean pruned share (either side) exceeds this


def _setting(default, help: str, cli: bool = False, **kwargs):
    """A :class:`TrainConfig` field: its default, a help line, and whether the CLI exposes it as a flag."""
    factory = {"default_factory": default} if callable(default) else {"default": default}
    return field(**factory, metadata={"help": help, "cli": cli, **kwargs})


@dataclass
class TrainConfig:
    """Training settings; the defaults follow the paper (batch 64, RAdam, lr 7e-4, 4 warm-up epochs,
    lr x0.1 on a plateau of 6 evaluations, 40 epochs). Each field's help line is in its metadata; the CLI
    builds its training flags from the fields marked ``cli`` (:func:`crossclr_lab.cli`), so every default
    is written here once."""

    loss: str = _setting("crossclr", "loss name (crossclr_lab.losses.LOSSES)")
    loss_kwargs: dict = _setting(dict, "keyword arguments of the loss")
    encoder: str = _setting("mlp", "mlp (pooled features) or temporal (a transformer over frames/tokens)", cli=True,
                            choices=ENCODERS)
    embed_dim: int = _setting(256, "joint-space dimension")
    hidden_dim: int = _setting(512, "hidden width: the MLP heads' hidden layer, or the temporal encoder's d_model")
    dropout: float = _setting(0.1, "dropout in the encoders")
    learn_temperature: bool = _setting(False, "the model holds a learnable log-scale temperature passed to the "
                                       "loss (losses with uses_temperature only)")
    epochs: int = _setting(40, "training epochs", cli=True)
    max_steps: int | None = _setting(None, "stop after this many optimiser steps, whatever the epoch")
    batch_size: int = _setting(64, "batch size; under torchrun the global batch, split evenly over the processes",
                               cli=True)
    optimizer: str = _setting("radam", "optimiser", cli=True, choices=tuple(OPTIMIZERS))
    lr: float = _setting(7e-4, "peak learning rate", cli=True)
    weight_decay: float = _setting(0.0, "weight decay")
    warmup_epochs: float = _setting(4.0, "linear lr warm-up, in epochs", cli=True)
    plateau_factor: float = _setting(0.1, "lr factor when val stops improving")
    plateau_patience: int = _setting(6, "evaluations without improvement before the lr drops")
    grad_clip: float | None = _setting(None, "max gradient norm, None = no clipping")
    amp: str = _setting("none", "autocast dtype: none, bf16 (CPU or CUDA), fp16 (CUDA only)", cli=True,
                        choices=tuple(AMP_DTYPES))
    device: str = _setting("auto", "auto (CUDA when present), cpu, cuda, cuda:N", cli=True)
    seed: int = _setting(0, "seed of the initial weights, batch order and dropout")
    eval_every: int = _setting(1, "evaluate on val every N epochs")
    monitor: str = _setting("rsum", "val metric for the lr plateau, early stopping and model selection")
    group: str | None = _setting(None, "groups key for semantic metrics (e.g. concept)")
    early_stop_patience: int | None = _setting(None, "evaluations without val improvement before stopping",
                                               cli=True)
    checkpoint_every: int | None = _setting(None, "also checkpoint every N steps (always at each epoch end)")
    progress: bool = _setting(True, "show progress bars (hidden when CI is set)")
    num_workers: int = _setting(0, "DataLoader worker processes")

    def __post_init__(self) -> None:
        check_positive("lr", self.lr)
        check_int("batch_size", self.batch_size, 2, hint="a contrastive loss compares the pairs of a batch")
        for name, minimum in (("epochs", 1), ("eval_every", 1), ("embed_dim", 1), ("hidden_dim", 1), ("seed", 0),
                              ("plateau_patience", 0), ("num_workers", 0)):
            check_int(name, getattr(self, name), minimum)
        for name in ("max_steps", "early_stop_patience", "checkpoint_every"):
            if getattr(self, name) is not None:
                check_int(name, getattr(self, name), 1)
        check_number("warmup_epochs", self.warmup_epochs, minimum=0)
        check_number("weight_decay", self.weight_decay, minimum=0)
        check_number("dropout", self.dropout, minimum=0, below=1)
        if self.grad_clip is not None:
            check_positive("grad_clip", self.grad_clip)
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
        if self.amp not in AMP_DTYPES:
            raise ValueError(f"unknown amp {self.amp!r}; choose one of {', '.join(AMP_DTYPES)}")
        if self.encoder not in ENCODERS:
            raise ValueError(f"unknown encoder {self.encoder!r}; choose one of {', '.join(ENCODERS)}")
        check_number("plateau_factor", self.plateau_factor, above=0, below=1)


def embed(model: DualEncoder, features: PairedFeatures, batch_size: int = 512,
          device: str | torch.device | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalised embeddings of every item: ``(video_emb [N, D], text_emb [N, D])`` on the CPU, float32."""
    device = next(model.parameters()).device if device is None else resolve_device(device)
    loader = DataLoader(PairedDataset(features, model.input_fields()), batch_size=batch_size,
                        collate_fn=collate_paired)
    was_training = model.training
    model.eval()
    videos, texts = [], []
    with torch.no_grad():
        for batch in loader:
            v, t = model.encode_batch({k: x.to(device) for k, x in batch.items()})
            videos.append(v.cpu())
            texts.append(t.cpu())
    model.train(was_training)
    return torch.cat(videos), torch.cat(texts)


def evaluate(model: DualEncoder, features: PairedFeatures, group: str | None = None) -> dict:
    """Retrieval metrics of ``model`` on ``features`` (:func:`~crossclr_lab.metrics.retrieval_metrics`, ``rsum``
    included); semantic ones when ``group`` names one of ``features.groups``."""
    if group is not None and group not in features.groups:
        raise ValueError(f"group {group!r} not in dataset {features.name!r}; available: {sorted(features.groups)}")
    video_emb, text_emb = embed(model, features)
    return retrieval_metrics(video_emb, text_emb, groups=None if group is None else features.groups[group])


def check_embeddings(video_emb: torch.Tensor, text_emb: torch.Tensor, batch: dict | None = None,
                     step: int = 0) -> None:
    """Raise :class:`TrainingDiverged` when a batch's embeddings ``[B, D]`` show that training diverged: NaN or
    Inf values, values beyond :data:`EXPLODED_ABS` (the weights blew up; from ~1e18 the norms would overflow
    float32), or all rows pointing the same way (collapse; not raised when the batch's pooled inputs,
    ``batch["video_pooled"]``/``["text_pooled"]``, are identical too)."""
    names, embs = ("video", "text"), [emb.detach().float() for emb in (video_emb, text_emb)]
    health = _health(torch.stack(embs)) if embs[0].shape == embs[1].shape else [
        _health(emb[None])[0] for emb in embs]
    for name, x, (biggest, spread) in zip(names, embs, health):
        if x.numel() == 0:
            continue
        if not math.isfinite(biggest):
            raise TrainingDiverged(f"the {name} embeddings hold NaN or Inf at step {step}: training diverged; "
                                   f"{DIVERGED_HINT}")
        if biggest > EXPLODED_ABS:
            raise TrainingDiverged(f"the {name} embeddings exploded at step {step} (largest |value| {biggest:.1e} > "
                                   f"{EXPLODED_ABS:.0e}): training diverged; {DIVERGED_HINT}")
        inputs = None if batch is None else batch.get(f"{name}_pooled")
        if spread < COLLAPSE_TOL and not (inputs is not None and torch.equal(inputs, inputs[:1].expand_as(inputs))):
            raise TrainingDiverged(f"all {len(x)} {name} embeddings of the batch at step {step} point the same way "
                                   f"(collapse): training diverged; {DIVERGED_HINT}")


def _health(x: torch.Tensor) -> list[tuple[float, float]]:
    """Per modality of ``x [M, B, D]``: the largest |value| (NaN or Inf when any value is) and the spread of the
    unit rows around the first (inf for a single row), computed in one pass over all M and one host transfer."""
    if x.numel() == 0:
        return [(0.0, math.inf)] * len(x)
    biggest = x.abs().amax(dim=(1, 2))  # amax propagates NaN
    unit = l2_normalize(x)
    spread = (unit - unit[:, :1]).abs().amax(dim=(1, 2)) if x.shape[1] > 1 else torch.full_like(biggest, math.inf)
    values = torch.cat([biggest, spread]).tolist()
    return list(zip(values[:len(x)], values[len(x):]))


def pair_step(forward: Callable[[dict], tuple[torch.Tensor, torch.Tensor]], loss_fn: PairLoss, batch: dict,
              temperature: torch.Tensor | None = None) -> LossParts:
    """The default training step for :class:`~crossclr_lab.data.paired.PairedDataset` batches: embed the batch
    with ``forward`` (the model, possibly DDP-wrapped and under autocast) and apply the loss to the embeddings
    and the batch's pooled input features (connectivity is measured on those). Returns the loss's parts.

    A :class:`Trainer` takes any function of this signature as ``step=``, e.g. for batches of other fields.
    """
    video_emb, text_emb = forward(batch)
    return loss_fn.parts(video_emb.float(), text_emb.float(), batch["video_pooled"], batch["text_pooled"],
                         temperature=temperature)


class Trainer:
    """Trains ``model`` (built from the config when omitted) on ``train_data``; evaluates on ``val_data``.

    Callbacks: ``on_step(trainer, step, parts)`` after every optimiser step (``parts``: the loss's scalar
    parts as floats) and ``on_epoch_end(trainer, epoch, entry)`` with the epoch's record entry.
    ``step(forward, loss_fn, batch, temperature) -> LossParts`` computes a batch's loss (default
    :func:`pair_step`); the trainer passes the model's learnable temperature only to losses that use one.
    With ``out_dir``, writes ``record.json`` (with the provenance of the data, code and machine), ``history.csv``
    (one row per epoch), ``checkpoint.pt`` (at every epoch end and every ``checkpoint_every`` steps; with
    ``resumable=False``, for runs never resumed such as a comparison's, once at the end) and, when training ends,
    the selected model as ``model.safetensors`` + ``model.json`` (:mod:`crossclr_lab.training.reuse`) there,
    holding the folder's lock while it runs
    (:mod:`crossclr_lab.training.runs`);
    ``fit(resume=True)`` continues from the checkpoint, after checking its checksum and that this is the same run
    (:mod:`crossclr_lab.training.checkpoint`), and reaches the same result as an uninterrupted run. Every batch's
    embeddings are checked: a diverged run raises :class:`TrainingDiverged`. In a process group of N ranks
    (see the module docstring) only rank 0 writes; every rank resumes from rank 0's checkpoint, which also
    holds every rank's RNG states (a resume needs the same N).
    """

    def __init__(self, config: TrainConfig, train_data: PairedFeatures, val_data: PairedFeatures | None = None,
                 out_dir: str | os.PathLike | None = None, model: DualEncoder | None = None,
                 callbacks: dict[str, Callable] | None = None, step: Callable[..., LossParts] = pair_step,
                 resumable: bool = True):
        if config.batch_size > len(train_data):
            raise ValueError(f"batch_size {config.batch_size} exceeds the {len(train_data)} training items")
        self.config, self.train_data, self.val_data = config, train_data, val_data
        self.resumable = resumable
        self.step_fn = step
        self.out_dir = None if out_dir is None else Path(out_dir)
        self.rank, self.world = distributed.rank(), distributed.world_size()
        if self.world > 1 and (config.batch_size % self.world or config.batch_size // self.world < 2):
            raise ValueError(f"batch_size {config.batch_size} is the global batch of {self.world} processes: it must "
                             f"be divisible by {self.world} and give each at least 2 pairs")
        self.device = resolve_device(config.device)
        if self.world > 1 and self.device.type == "cuda" and self.device.index is None:
            # the process's current GPU: torchrun_process_group sets it to cuda:LOCAL_RANK
            self.device = torch.device("cuda", torch.cuda.current_device())
        if config.amp == "fp16" and self.device.type != "cuda":
            raise ValueError("amp='fp16' needs CUDA; use amp='bf16' on the CPU")
        seed_everything(config.seed)
        self.model = (model or build_model(train_data, config.encoder, config.embed_dim, config.hidden_dim,
                                           config.dropout, learn_temperature=config.learn_temperature)).to(self.device)
        if self.rank > 0:  # same initial weights everywhere, but each rank its own dropout masks
            seed_everything(config.seed + self.rank * RANK_SEED_STRIDE)
        # several ranks: the loss sees the global batch, each rank computing its own anchors (local_loss; an
        # explicit gather_distributed or local_loss in loss_kwargs wins)
        self.loss_kwargs = dict(config.loss_kwargs)
        if self.world > 1:
            self.loss_kwargs = {"gather_distributed": True, **self.loss_kwargs}
            self.loss_kwargs.setdefault("local_loss", self.loss_kwargs["gather_distributed"])
        self.loss_fn = build_loss(config.loss, **self.loss_kwargs).to(self.device)
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        self.train_model = DistributedDataParallel(self.model, device_ids) if self.world > 1 else self.model
        self.optimizer = OPTIMIZERS[config.optimizer](self.model.parameters(), lr=config.lr,
                                                      weight_decay=config.weight_decay)
        self.plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
            self.optimizer, mode="min" if lower_is_better(config.monitor) else "max",
            factor=config.plateau_factor, patience=config.plateau_patience)
        self.scaler = torch.amp.GradScaler("cuda", enabled=config.amp == "fp16")
        self.loader_gen = torch.Generator().manual_seed(config.seed)
        # pair_step reads the model's inputs and the pooled features: no per-frame tensors for MLP encoders
        fields = (*self.model.input_fields(), "video_pooled", "text_pooled") if step is pair_step else None
        dataset = PairedDataset(train_data, fields)
        global_batches = BatchSampler(RandomSampler(dataset, generator=self.loader_gen), config.batch_size,
                                      drop_last=True)  # equal local batches on every rank: the gather needs them
        self.loader = DataLoader(dataset, batch_sampler=distributed.GlobalBatchSlices(global_batches, self.rank,
                                                                                      self.world),
                                 collate_fn=collate_paired, generator=self.loader_gen, num_workers=config.num_workers)
        self.warmup_steps = round(config.warmup_epochs * len(self.loader))
        self.callbacks = {"on_step": [], "on_epoch_end": []}
        for event, fn in (callbacks or {}).items():
            self.add_callback(event, fn)
        # progress state: everything below goes into the checkpoint
        self.epoch, self.step, self.batch_in_epoch, self.bad_evals, self.elapsed = 0, 0, 0, 0, 0.0
        self.stopped_early = False
        self.started_utc = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        self.epoch_loader_state = self.loader_gen.get_state()
        self.epoch_sums: dict[str, float] = {}
        self.history: list[dict] = []
        self.step_losses: list[float] = []
        self.best: dict | None = None  # {"epoch", "value", "model"}
        self._data_provenance: dict | None = None
        self._pruning_warned = False

    def add_callback(self, event: str, fn: Callable) -> None:
        if event not in self.callbacks:
            raise ValueError(f"unknown callback event {event!r}; choose one of {', '.join(self.callbacks)}")
        self.callbacks[event].append(fn)

    # -- training ---------------------------------------------------------------------------------------------
    def _train_step(self, batch: dict) -> dict[str, float]:
        cfg = self.config
        batch = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
        if self.step < self.warmup_steps:
            for group in self.optimizer.param_groups:
                group["lr"] = cfg.lr * (self.step + 1) / self.warmup_steps
        parts = self.step_fn(self._forward, self.loss_fn, batch,
                             self.model.temperature if self.loss_fn.uses_temperature else None)
        loss = parts.loss
        if not torch.isfinite(loss):
            raise TrainingDiverged(f"loss is {loss.item()} at step {self.step}: training diverged; lower the lr or "
                                   "raise the temperature")
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if cfg.grad_clip is not None:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        scalars = parts.scalars()
        if parts.influential_video is not None:  # CrossCLR: the share of the batch pruned, per side; loss == 0
            scalars["pruned_video"] = parts.influential_video.float().mean().item()
            scalars["pruned_text"] = parts.influential_text.float().mean().item()
            scalars["zero_loss"] = float(scalars["loss"] == 0.0)
        return scalars

    def _forward(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """The training model (DDP-wrapped under torchrun) on ``batch``, under the configured autocast; its
        embeddings are checked for divergence (:func:`check_embeddings`)."""
        cfg = self.config
        with torch.autocast(self.device.type, dtype=AMP_DTYPES[cfg.amp], enabled=cfg.amp != "none"):
            video_emb, text_emb = self.train_model(batch)
        check_embeddings(video_emb, text_emb, batch, self.step)
        return video_emb, text_emb

    def fit(self, resume: bool = False, overwrite: bool = False) -> dict:
        """Train; returns the run record (also written to ``out_dir/record.json``).

        With ``out_dir``, the folder is locked for this run (:class:`~crossclr_lab.training.runs.RunLock`; a folder in
        use
        raises :class:`~crossclr_lab.training.runs.RunFolderError`), and an earlier run there is continued (``resume``:
        its checkpoint is verified and must be of the same run, see :mod:`crossclr_lab.training.checkpoint`), replaced
        (``overwrite``) or, by default, refused. Raises :class:`TrainingDiverged` when training diverges.
        """
        with held(self.out_dir):
            self._prepare_out_dir(resume, overwrite)
            return self._fit()

    def _prepare_out_dir(self, resume: bool, overwrite: bool) -> None:
        """Rank 0 decides (every rank raises the same error); then every rank loads the checkpoint to resume."""
        if resume and self.out_dir is None:
            raise FileNotFoundError("resume=True needs the out_dir of the run to continue; train without resume first")
        error = None
        if self.out_dir is not None and self.rank == 0:
            found = [name for name in RUN_FILES if (self.out_dir / name).exists()]
            if resume and "checkpoint.pt" not in found:
                error = f"resume=True but there is no checkpoint.pt in {self.out_dir}; train without resume first"
            elif found and not resume and not overwrite:
                error = (f"{self.out_dir} holds an earlier run ({', '.join(found)}); resume=True continues it, "
                         "overwrite=True replaces it")
            elif found and not resume:
                for name in found:
                    (self.out_dir / name).unlink()
        errors = [e for e in distributed.all_gather_objects(error) if e]
        if errors:
            if resume:
                raise FileNotFoundError(errors[0])
            raise RunFolderError(errors[0])
        if resume:
            self._load_checkpoint(self.out_dir / "checkpoint.pt")

    def _fit(self) -> dict:
        cfg = self.config
        start = time.perf_counter() - self.elapsed
        max_steps = cfg.max_steps or math.inf
        disable = not cfg.progress or bool(os.environ.get("CI")) or self.rank > 0
        stop = self.stopped_early or self.epoch >= cfg.epochs or self.step >= max_steps
        self.model.train()
        while not stop:
            self.loader_gen.set_state(self.epoch_loader_state)
            batches = iter(self.loader)
            for _ in range(self.batch_in_epoch):  # resuming mid-epoch: replay the sampler, skip done batches
                next(batches)
            bar = tqdm(batches, total=len(self.loader), initial=self.batch_in_epoch, disable=disable,
                       desc=f"{cfg.loss} epoch {self.epoch + 1}/{cfg.epochs}", leave=False)
            for batch in bar:
                parts = self._train_step(batch)
                self.step += 1
                self.batch_in_epoch += 1
                self.step_losses.append(parts["loss"])
                for k, v in parts.items():
                    self.epoch_sums[k] = self.epoch_sums.get(k, 0.0) + v
                bar.set_postfix(loss=f"{parts['loss']:.4f}")
                if self.resumable and cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0:
                    self.elapsed = time.perf_counter() - start
                    self._save_checkpoint()
                for fn in self.callbacks["on_step"]:
                    fn(self, self.step, parts)
                if self.step >= max_steps:
                    break
            self._end_epoch(start)
            stop = self.stopped_early or self.epoch >= cfg.epochs or self.step >= max_steps
        if self.best is not None:  # model selection on val
            self.model.load_state_dict(self.best["model"])
        record = self._write_record(final=True)
        if self.out_dir is not None and self.rank == 0:  # plain weights and a config beside the run
            export_model(self.model, cfg, self.data_provenance()["train"], self.out_dir,
                         record={k: record[k] for k in ("seed", "dataset", "epochs_run", "best_epoch", "best_val")})
        return record

    def _end_epoch(self, start: float) -> None:
        """Log the epoch, evaluate, step the plateau scheduler, select the model, checkpoint."""
        cfg = self.config
        entry = {"epoch": self.epoch + 1, "step": self.step, "lr": self.optimizer.param_groups[0]["lr"],
                 "train": {k: v / self.batch_in_epoch for k, v in self.epoch_sums.items()}}
        self.epoch += 1
        if self.val_data is not None and (self.epoch % cfg.eval_every == 0 or self.epoch == cfg.epochs):
            entry["val"] = evaluate(self.model, self.val_data, cfg.group)
            if cfg.monitor not in entry["val"]:
                raise ValueError(f"monitor {cfg.monitor!r} is not a validation metric; "
                                 f"choose one of {sorted(entry['val'])}")
            value = entry["val"][cfg.monitor]
            if self.step >= self.warmup_steps:
                self.plateau.step(value)
            lower = lower_is_better(cfg.monitor)
            if self.best is None or (value < self.best["value"] if lower else value > self.best["value"]):
                self.best = {"epoch": self.epoch, "value": value, "model": copy.deepcopy(self.model.state_dict())}
                self.bad_evals = 0
            else:
                self.bad_evals += 1
                self.stopped_early = cfg.early_stop_patience is not None and self.bad_evals >= cfg.early_stop_patience
        self.elapsed = time.perf_counter() - start
        entry["time_s"] = self.elapsed
        self._warn_pruning(entry)
        self.history.append(entry)
        self.batch_in_epoch, self.epoch_sums = 0, {}
        self.epoch_loader_state = self.loader_gen.get_state()
        last = self.stopped_early or self.epoch >= cfg.epochs or self.step >= (cfg.max_steps or math.inf)
        if self.resumable or last:
            self._save_checkpoint()
        self._write_record(final=False)
        for fn in self.callbacks["on_epoch_end"]:
            fn(self, self.epoch, entry)

    def _warn_pruning(self, entry: dict) -> None:
        """Once per run: warn when the epoch's mean pruned share of a side exceeds :data:`PRUNED_WARN` or a
        step's loss was exactly 0 (CrossCLR with every negative pruned learns nothing from that batch)."""
        train = entry["train"]
        pruned = max(train.get("pruned_video", 0.0), train.get("pruned_text", 0.0))
        zero = train.get("zero_loss", 0.0)
        if self._pruning_warned or self.rank > 0 or (pruned <= PRUNED_WARN and zero == 0):
            return
        self._pruning_warned = True
        warnings.warn(f"epoch {entry['epoch']}: CrossCLR's pruning removed {100 * pruned:.0f} % of each batch on "
                      f"average and {100 * zero:.0f} % of the steps had a loss of exactly 0 — the input features' "
                      f"connectivities are nearly equal, so γ = {getattr(self.loss_fn, 'prune_threshold', '?')} marks "
                      "most samples influential and few negatives are left; check `python -m "
                      "crossclr_lab.experiments.data_card`, "
                      "raise --prune-threshold or switch pruning off (none)", PruningWarning, stacklevel=2)

    # -- records and checkpoints ------------------------------------------------------------------------------
    def data_provenance(self) -> dict:
        """``{"train": ..., "val": ...}``: :func:`~crossclr_lab.data.provenance.describe` of the splits."""
        if self._data_provenance is None:
            self._data_provenance = {"train": describe(self.train_data)}
            if self.val_data is not None:
                self._data_provenance["val"] = describe(self.val_data)
        return self._data_provenance

    def identity(self) -> dict:
        """This run's :func:`~crossclr_lab.training.checkpoint.run_identity`, saved in every checkpoint."""
        cfg = self.config
        # the data's content must not change (fingerprint, manifest); its folder may move
        data = {split: {k: v for k, v in d.items() if k != "data_root"} for split, d in self.data_provenance().items()}
        return run_identity(asdict(cfg), {**loss_defaults(cfg.loss), **self.loss_kwargs}, data, self.model,
                            self.world)

    def _write_record(self, final: bool) -> dict:
        n_val = None if self.val_data is None else len(self.val_data)
        record = new_run_record(asdict(self.config), self.config.seed, self.device, world_size=self.world,
                                data=self.data_provenance(), dataset=self.train_data.name,
                                n_train=len(self.train_data), n_val=n_val, started_utc=self.started_utc)
        record.update(finished=final, stopped_early=self.stopped_early, epochs_run=self.epoch, steps=self.step,
                      wall_time_s=self.elapsed,
                      best_epoch=self.best and self.best["epoch"], best_val=self.best and self.best["value"],
                      history=self.history, step_losses=self.step_losses)
        if self.out_dir is not None and self.rank == 0:
            atomic_write_json(self.out_dir / "record.json", record)
            atomic_write_text(self.out_dir / "history.csv", history_csv(self.history))
        return record

    def _save_checkpoint(self) -> None:
        if self.out_dir is None:
            return
        rngs = distributed.all_gather_objects(rng_states())  # a collective: every rank takes part
        if self.rank > 0:
            return
        state = {"identity": self.identity(), "model": self.model.state_dict(),
                 "optimizer": self.optimizer.state_dict(), "plateau": self.plateau.state_dict(),
                 "scaler": self.scaler.state_dict(), "loss": self.loss_fn.state_dict(), "rng": rngs[0]}
        if self.world > 1:
            state["rng_per_rank"] = rngs
        state.update({k: getattr(self, k) for k in PROGRESS})
        save_checkpoint(state, self.out_dir / "checkpoint.pt")

    def _load_checkpoint(self, path: Path) -> None:
        """Verify the checkpoint (checksum, same run: :mod:`crossclr_lab.training.checkpoint`), then restore every
        state."""
        # on the CPU: RNG states must stay CPU tensors; load_state_dict moves the rest to the model's device
        state = load_checkpoint(path)
        if not isinstance(state, dict) or "identity" not in state:
            raise CheckpointError(f"checkpoint {path} does not say which run it belongs to; start the run again")
        missing = [k for k in ("model", "optimizer", "plateau", "scaler", "loss", "rng", *PROGRESS) if k not in state]
        if missing:
            raise CheckpointError(f"checkpoint {path} lacks the state a resume needs ({', '.join(missing)}); it was "
                                  "not written by this trainer: start the run again (--overwrite, or another --out)")
        diffs = differences(state["identity"], self.identity())
        cfg = self.config
        if cfg.epochs < state["epoch"]:
            diffs.append(f"epochs: {cfg.epochs} now, but the run has already done {state['epoch']}")
        if cfg.max_steps is not None and cfg.max_steps < state["step"]:
            diffs.append(f"max_steps: {cfg.max_steps} now, but the run has already done {state['step']} steps")
        if diffs:
            raise ResumeMismatch(f"cannot resume {path}: this is not the same run: " + "; ".join(diffs)
                                 + ". Resume with the checkpoint's settings, or start a new run (overwrite, or "
                                 "another folder); safe to change on resume: " + ", ".join(SAFE_TO_CHANGE))
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.plateau.load_state_dict(state["plateau"])
        self.scaler.load_state_dict(state["scaler"])
        self.loss_fn.load_state_dict(state["loss"])
        # the same number of processes as the checkpoint's (part of its identity): each rank takes its own states
        set_rng_states(state["rng_per_rank"][self.rank] if self.world > 1 else state["rng"])
        for k in PROGRESS:
            setattr(self, k, state[k])


def history_csv(history: list[dict]) -> str:
    """A run's per-epoch history as CSV: one row per epoch (epoch, step, lr, time_s, ``train_<part>`` for each loss
    part, ``val_<metric>`` for each validation metric; empty where an epoch was not evaluated)."""
    import csv
    import io

    rows = [{**{k: v for k, v in e.items() if not isinstance(v, dict)},
             **{f"{section}_{k}": v for section in ("train", "val") for k, v in e.get(section, {}).items()}}
            for e in history]
    columns = list(dict.fromkeys(k for row in rows for k in row))
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def train(config: TrainConfig, train_data: PairedFeatures, val_data: PairedFeatures | None = None,
          out_dir: str | os.PathLike | None = None, resume: bool = False) -> tuple[DualEncoder, dict]:
    """Build, train and return ``(model, record)``; the model holds the best-on-val weights."""
    trainer = Trainer(config, train_data, val_data, out_dir)
    return trainer.model, trainer.fit(resume=resume)
