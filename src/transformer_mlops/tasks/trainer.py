"""The Lightning Trainer of every training stage, built from params, and the fit they share:
best checkpoint, early stopping, resume state, throughput, the best validated weights kept."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch.callbacks import ModelCheckpoint

from transformer_mlops.config import TrainerConfig
from transformer_mlops.tasks.callbacks import (
    Curves,
    ProgressLines,
    Throughput,
    ValidationTracker,
    best_checkpoint_callbacks,
    on_terminal,
)
from transformer_mlops.tasks.hardware import Bf16MixedPrecision, on_gpu, resolve_precision
from transformer_mlops.tasks.resume import save_checkpoint_file

log = logging.getLogger(__name__)

# Our data modules do resume mid-epoch (tasks/resume.py: ResumableBatches), through the
# datamodule's state rather than a stateful DataLoader, which is what this warning looks for.
warnings.filterwarnings("ignore", message="You're resuming from a checkpoint that ended before")


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints are written to a temp file beside their target, flushed to disk, then renamed
    into place: a kill or a full disk leaves the previous checkpoint whole (Lightning's own
    writer opens the final path and fills it, so a full disk left a partial best.ckpt)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path,
                        storage_options: Any | None = None) -> None:  # fmt: skip
        save_checkpoint_file(checkpoint, path)


def build_trainer(cfg: TrainerConfig, *, callbacks: list, logger=False, root_dir: str | Path,
                  enable_progress_bar: bool = True, **overrides) -> L.Trainer:  # fmt: skip
    """A Lightning Trainer from params; `overrides` are for tests (e.g. limit_train_batches).
    A progress bar on a terminal; progress log lines otherwise (CI, nohup, log files)."""
    precision = resolve_precision(cfg.precision, cfg.accelerator)
    if enable_progress_bar and not on_terminal():
        enable_progress_bar, callbacks = False, [*callbacks, ProgressLines()]
    log.info("precision %s (params: %s)", precision, cfg.precision)
    plugins: list = [AtomicCheckpointIO()]
    if precision == "bf16-mixed":
        device = "cuda" if on_gpu(cfg.accelerator) else "cpu"
        plugins.append(Bf16MixedPrecision(device))
        precision_kwargs = {}
    else:
        precision_kwargs = {"precision": precision}
    kwargs = dict(
        accelerator=cfg.accelerator,
        devices=cfg.devices,
        strategy=cfg.strategy,
        num_nodes=cfg.num_nodes,
        plugins=plugins,
        **precision_kwargs,
        max_epochs=cfg.max_epochs,
        max_steps=cfg.max_steps,
        max_time={"minutes": cfg.max_minutes} if cfg.max_minutes else None,
        deterministic=cfg.deterministic,
        gradient_clip_val=cfg.gradient_clip_val,
        accumulate_grad_batches=cfg.accumulate_grad_batches,
        log_every_n_steps=cfg.log_every_n_steps,
        callbacks=callbacks,
        logger=logger,
        default_root_dir=str(root_dir),
        enable_progress_bar=enable_progress_bar,
        enable_model_summary=False,
        use_distributed_sampler=False,  # our batch samplers shard by rank themselves
    )
    kwargs.update(overrides)
    return L.Trainer(**kwargs)


def fit_and_restore_best(trainer: L.Trainer, module: L.LightningModule, datamodule: L.LightningDataModule,
                         checkpoint: ModelCheckpoint, monitor: str,
                         ckpt_path: str | Path | None = None) -> float | None:  # fmt: skip
    """Fit, then leave the best weights (by `monitor`, higher is better) in `module`.

    When training stopped between validations (max_steps or max_time mid-epoch) the final,
    fully annealed weights are validated too, so they are not thrown away for an older best.
    `ckpt_path` resumes an interrupted fit (tensors only: weights_only=True). Returns the best score.
    """
    tracker = ValidationTracker()
    trainer.callbacks.append(tracker)
    trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path,
                weights_only=True if ckpt_path else None)  # fmt: skip
    best = float(checkpoint.best_model_score) if checkpoint.best_model_score is not None else None
    path = checkpoint.best_model_path
    if tracker.last_step != trainer.global_step:
        final = float(trainer.validate(module, datamodule=datamodule, verbose=False)[0][monitor])
        if best is None or final >= best:
            best, path = final, ""
    if path:  # an earlier validation was best: use its weights
        module.load_state_dict(
            torch.load(path, map_location="cpu", weights_only=True)["state_dict"]
        )
    return best


def fit_best(module: L.LightningModule, data: L.LightningDataModule, cfg: TrainerConfig, *,
             monitor: str, patience: int, real_tokens: Callable, checkpoint_dir: str | Path,
             callbacks: list | None = None, logger=False, ckpt_path: str | Path | None = None,
             **overrides: Any) -> tuple[L.Trainer, dict[str, Any]]:  # fmt: skip
    """A training stage's fit: best checkpoint and early stopping on `monitor` (higher is
    better), the resume state, throughput; the best weights are left in `module`.

    Args:
        cfg: the task's `train.trainer` params.
        monitor, patience: the validation metric that picks the best weights, and how many
            validations without improvement stop training.
        real_tokens: batch -> number of real (not padding) tokens, for the throughput.
        checkpoint_dir: best.ckpt and last.ckpt (resume) go here.
        callbacks, logger, overrides: extra callbacks, the MLflow logger, Trainer arguments
            for tests (e.g. limit_train_batches).
        ckpt_path: last.ckpt of an interrupted run, to resume from.

    Returns:
        (the trainer, summary: best score, steps, training throughput and seconds, precision,
        and `plots`: the training curves, written to reports/plots/<task>/ by the stage).
    """
    throughput, curves = Throughput(real_tokens), Curves()
    fit_callbacks = best_checkpoint_callbacks(checkpoint_dir, monitor, patience,
                                              cfg.checkpoint_every_n_steps)  # fmt: skip
    trainer = build_trainer(cfg, callbacks=[*fit_callbacks, throughput, curves, *(callbacks or [])],
                            logger=logger, root_dir=checkpoint_dir, **overrides)  # fmt: skip
    best = fit_and_restore_best(trainer, module, data, fit_callbacks[0], monitor, ckpt_path)
    return trainer, {
        "best": best or 0.0,
        "global_step": trainer.global_step,
        "train_tokens_per_second": throughput.tokens_per_second,
        "train_seconds": throughput.seconds,
        "precision": str(trainer.precision),
        "plots": {"train_loss": curves.train, "val": curves.val},
    }
