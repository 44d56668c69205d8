"""Training: the trainer, checksummed checkpoints, run folders, the model cache and the shipped models.

Modules: ``trainer`` (:class:`TrainConfig`, :class:`Trainer`, :func:`embed`, :func:`evaluate`), ``checkpoint``
(checksummed checkpoints, the run identity a resume must match), ``runs`` (one writer per run folder),
``model_cache`` (train once, reuse), ``pretrained`` (reads the small checkpoints shipped in ``data/pretrained``).
"""

from .checkpoint import CheckpointError, ResumeMismatch, load_checkpoint, save_checkpoint
from .model_cache import default_cache_dir, fit_cached
from .runs import RunError, RunFolderError, claim_output
from .trainer import TrainConfig, Trainer, TrainingDiverged, embed, evaluate, train

__all__ = ["TrainConfig", "Trainer", "TrainingDiverged", "embed", "evaluate", "train", "CheckpointError",
           "ResumeMismatch", "load_checkpoint", "save_checkpoint", "RunError", "RunFolderError", "claim_output",
           "default_cache_dir", "fit_cached"]
