"""Resuming an interrupted training stage: what Lightning saves and restores.

Training writes `last.ckpt` every `checkpoint_every_n_steps` optimizer steps (atomically: Lightning
saves through an fsspec transaction); tracking/stage.py keeps the record of which params, data
and MLflow run it belongs to and finds it after a crash. A resumed fit ends with the weights an
uninterrupted run would have had: the optimizer, LR schedule, loop counters and early-stopping
state are restored, the position in the epoch's batch order too (ResumableBatches), and dropout
is re-seeded per step (StepSeeds), so it does not depend on what happened before the resume.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.callbacks import Callback, Checkpoint

from transformer_mlops.errors import UserError
from transformer_mlops.io import default_mode, writing

log = logging.getLogger(__name__)

LAST = "last.ckpt"  # the state a resume starts from (tracking/stage.py finds it)


def save_checkpoint_file(checkpoint: dict[str, Any], path: str | Path) -> None:
    """`torch.save` to a temp file beside `path`, flushed to disk, then renamed into place: a
    kill or a full disk leaves the previous checkpoint whole."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with writing(path), open(tmp, "wb") as handle:
            torch.save(checkpoint, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, default_mode())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def check_resumable(checkpoint: Path, directory: Path) -> None:
    """A checkpoint Lightning could not load stops the stage with a clear message, not a
    traceback from deep inside the restore (tensors only: weights_only=True, memory-mapped)."""
    try:
        torch.load(checkpoint, map_location="cpu", weights_only=True, mmap=True)
    except Exception as error:  # any failure means the same here: it cannot be resumed
        raise UserError(
            f"{checkpoint}: not a readable checkpoint ({type(error).__name__}: {error}). "
            f"Remove {directory}/ to start this stage over."
        ) from None


class ResumeCheckpoint(Checkpoint):
    """Writes last.ckpt every `every_n_steps` optimizer steps inside an epoch and at the end of
    each epoch, never at an epoch's last batch before its validation has run (a resume from
    there would skip that validation). A `Checkpoint`, so Lightning runs it after early stopping
    and after the best-checkpoint callback listed before it: the state it saves includes theirs."""

    def __init__(self, dirpath: str | Path, every_n_steps: int):
        self.path = Path(dirpath) / LAST
        self.every_n_steps = every_n_steps

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        done = trainer.fit_loop.epoch_loop.batch_progress.current.processed
        if trainer.global_step % self.every_n_steps == 0 and done < trainer.num_training_batches:
            trainer.save_checkpoint(self.path, weights_only=False)  # all state: a resume needs it

    def on_train_epoch_end(self, trainer, module) -> None:
        # after the epoch's validation, and after the best checkpoint recorded it
        trainer.save_checkpoint(self.path, weights_only=False)


class StepSeeds(Callback):
    """Seeds the RNG before every training step from (run seed, step, rank), so dropout masks
    depend on the step alone: a resumed run draws what an uninterrupted one did, however many
    random numbers data loading or validation drew in between."""

    def __init__(self):
        self.base = 0

    def on_fit_start(self, trainer, module) -> None:
        self.base = torch.initial_seed()  # set by seed_everything(seed) in train()

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        step_seed = (
            self.base * 1_000_003 + trainer.global_step * 1_009 + trainer.global_rank
        ) % 2**63
        torch.manual_seed(step_seed)


class ResumableBatches:
    """LightningDataModule mixin: checkpoints the position inside the training epoch, and after a
    restore the first training pass skips the batches already trained. The batch order is a
    function of (seed, epoch) (see LengthBucketBatchSampler), so the rest of the epoch is exactly
    what an uninterrupted run would see."""

    _skip_batches = 0

    def state_dict(self) -> dict[str, Any]:
        trainer = getattr(self, "trainer", None)
        if trainer is None:
            return {}
        done = int(trainer.fit_loop.epoch_loop.batch_progress.current.processed)
        return {"batches_in_epoch": done if done < trainer.num_training_batches else 0}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._skip_batches = int(state.get("batches_in_epoch", 0))

    def resume_position(self, loader):
        """Hand a restored position to the training loader's batch sampler (once)."""
        if self._skip_batches:
            log.info(
                "resumed mid-epoch: skipping the %d batches already trained", self._skip_batches
            )
            loader.batch_sampler.skip_once = self._skip_batches
            self._skip_batches = 0
        return loader
