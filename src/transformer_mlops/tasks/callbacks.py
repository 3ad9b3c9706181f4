"""Lightning callbacks of the training stages: best checkpoint + early stopping + resume state,
validation bookkeeping and training throughput."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint

from transformer_mlops.tasks.resume import ResumeCheckpoint, StepSeeds


def best_checkpoint_callbacks(checkpoint_dir: str | Path, monitor: str, patience: int,
                              every_n_steps: int = 50) -> list[Callback]:  # fmt: skip
    """[best checkpoint, early stopping, last.ckpt, per-step seeds]: the best weights by
    `monitor` (higher is better), and what a resume after a crash needs (see tasks/resume.py).

    Early stopping is checked after validations only: max_steps may end training mid-epoch,
    when no validation metric exists yet.
    """
    best = ModelCheckpoint(
        dirpath=str(checkpoint_dir), filename="best", monitor=monitor, mode="max"
    )
    stopper = EarlyStopping(
        monitor=monitor, mode="max", patience=patience, check_on_train_epoch_end=False
    )
    return [best, stopper, ResumeCheckpoint(checkpoint_dir, every_n_steps), StepSeeds()]


class ValidationTracker(Callback):
    """Remembers the global step of the last validation run during fit."""

    def __init__(self):
        self.last_step = -1

    def on_validation_end(self, trainer, module):
        if not trainer.sanity_checking:
            self.last_step = trainer.global_step


class Throughput(Callback):
    """Tokens per second of training steps (forward, backward, optimizer), for reports/speed.

    `count` says how many real tokens a batch holds (e.g. non-pad target tokens).
    """

    def __init__(self, count: Callable):
        self.count = count
        self.tokens, self.seconds, self._start = 0, 0.0, 0.0

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        self._start = time.perf_counter()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        self.seconds += time.perf_counter() - self._start
        self.tokens += int(self.count(batch))

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / max(self.seconds, 1e-9)
