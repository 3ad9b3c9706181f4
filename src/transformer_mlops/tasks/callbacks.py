"""Lightning callbacks of the training stages: best checkpoint + early stopping + resume state,
validation bookkeeping, training curves and throughput."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path

from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint

from transformer_mlops.tasks.progress import progress_every, progress_line
from transformer_mlops.tasks.resume import ResumeCheckpoint, StepSeeds

log = logging.getLogger(__name__)


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


def validation_scores(trainer) -> dict[str, float]:
    """The `val/*` metrics the module logged at its last validation, sorted by name."""
    return {
        k: float(v) for k, v in sorted(trainer.callback_metrics.items()) if k.startswith("val/")
    }


class Curves(Callback):
    """Training curves for DVC plots: the training loss every `log_every_n_steps` steps, and the
    validation loss and scores (`val/*` metrics the module logged) after every validation."""

    def __init__(self):
        self.train: list[dict] = []
        self.val: list[dict] = []

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        if trainer.global_step % trainer.log_every_n_steps == 0 and trainer.is_global_zero:
            loss = outputs["loss"] if isinstance(outputs, dict) else outputs
            self.train.append({"step": trainer.global_step, "train_loss": round(float(loss), 5)})

    def on_validation_end(self, trainer, module):  # after the module logged its epoch metrics
        if trainer.sanity_checking:
            return
        scores = validation_scores(trainer)
        self.val.append({"step": trainer.global_step,
                         **{k.replace("/", "_"): round(v, 5) for k, v in scores.items()}})  # fmt: skip


def on_terminal() -> bool:
    """Whether a person watches stderr live (a progress bar), or it goes to a file or CI log."""
    return sys.stderr.isatty()


class ProgressLines(Callback):
    """Training progress as log lines, for runs without a terminal (CI, nohup, a log file),
    where a progress bar shows nothing readable: a line every `every_seconds` (default 30,
    `TMLOPS_PROGRESS_SECONDS`), and one after each validation with its scores."""

    def __init__(self, every_seconds: float | None = None):
        self.every = every_seconds or progress_every()
        self._start = self._last = 0.0

    def on_train_start(self, trainer, module):
        self._start = self._last = time.monotonic()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        now = time.monotonic()
        if now - self._last >= self.every and trainer.is_global_zero:
            self._last = now
            log.info("%s", self.line(trainer, now - self._start))

    def on_validation_end(self, trainer, module):
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        scores = ", ".join(f"{k} {v:.4g}" for k, v in validation_scores(trainer).items())
        log.info("step %d: validation %s", trainer.global_step, scores)

    @staticmethod
    def line(trainer, elapsed: float) -> str:
        """'step 120/940 (13%), epoch 1, train/loss 1.234, 4.2 steps/s, about 3m15s left'."""
        loss = trainer.callback_metrics.get("train/loss")
        return progress_line(trainer.global_step, trainer.estimated_stepping_batches,
                             trainer.current_epoch, None if loss is None else float(loss), elapsed)  # fmt: skip
