"""Resuming an interrupted training stage.

Training writes `last.ckpt` every `checkpoint_every_n_steps` optimizer steps (atomically: Lightning
saves through an fsspec transaction) and a record of what is being trained: a fingerprint of the
stage's params and prepared data, and the MLflow run id. After a crash or `kill -9`, the next
`dvc repro` finds the record; when the fingerprint matches it continues from `last.ckpt` in the
same MLflow run, and ends with the weights an uninterrupted run would have had: the optimizer,
LR schedule, loop counters and early-stopping state are restored, the position in the epoch's
batch order too, and dropout is re-seeded per step (StepSeeds), so it does not depend on what
happened before the resume. A finished stage removes its record; a record for other params
or data is stale and is removed with its checkpoints.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.callbacks import Callback, Checkpoint

from transformer_mlops.errors import UserError
from transformer_mlops.io import read_json_if_exists, write_json

log = logging.getLogger(__name__)

RECORD = "resume.json"
LAST = "last.ckpt"


def fingerprint(params: dict[str, Any], data_dir: str | Path) -> str:
    """What a resumed run must share with the interrupted one: the params and the data hash."""
    from transformer_mlops.tracking.runs import dvc_md5

    blob = json.dumps(params, sort_keys=True, default=str) + dvc_md5(data_dir)
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass
class ResumePoint:
    """Where a stage starts: `checkpoint` is None for a fresh start."""

    checkpoint_dir: Path
    fingerprint: str
    checkpoint: Path | None = None
    run_id: str | None = None

    @classmethod
    def find(
        cls, checkpoint_dir: str | Path, fingerprint: str, clear_stale: bool = True
    ) -> ResumePoint:
        """The interrupted run of the same params and data, if there is one.

        `clear_stale` (rank 0 only) removes checkpoints left by other params or data.
        """
        directory = Path(checkpoint_dir)
        record = read_json_if_exists(directory / RECORD)
        last = directory / LAST
        if record and record.get("fingerprint") == fingerprint and last.is_file():
            _check_readable(last, directory)
            from transformer_mlops.tracking.runs import redact, tracking_uri

            # the same MLflow run only on the same tracking server
            same_server = record.get("tracking_uri") == redact(tracking_uri())
            run_id = record.get("run_id") if same_server else None
            log.info("resuming from %s, MLflow run %s", last, run_id or "(new)")
            return cls(directory, fingerprint, last, run_id)
        if clear_stale and directory.exists():
            for stale in [directory / RECORD, *directory.glob("*.ckpt")]:
                stale.unlink(missing_ok=True)
        return cls(directory, fingerprint)

    def started(self, run_id: str | None, tracking_uri: str) -> None:
        """Record the run being trained (rank 0), so an interruption can be resumed."""
        record = {"fingerprint": self.fingerprint, "run_id": run_id, "tracking_uri": tracking_uri}
        write_json(self.checkpoint_dir / RECORD, record)

    def finished(self) -> None:
        """The stage completed: nothing to resume; drop the record and the checkpoints."""
        for path in [self.checkpoint_dir / RECORD, *self.checkpoint_dir.glob("*.ckpt")]:
            path.unlink(missing_ok=True)


def _check_readable(checkpoint: Path, directory: Path) -> None:
    """A checkpoint Lightning could not load stops the stage with a clear message, not a
    traceback from deep inside the restore (tensors only: weights_only=True, memory-mapped)."""
    try:
        torch.load(checkpoint, map_location="cpu", weights_only=True, mmap=True)
    except Exception as error:  # any failure means the same here: it cannot be resumed
        raise UserError(
            f"{checkpoint}: not a readable checkpoint ({type(error).__name__}: {error}). "
            f"Remove {directory}/ to start this stage over."
        ) from None


@contextlib.contextmanager
def resumable_stage_run(task: str, stage: str, params: dict[str, Any], data_task: str,
                        checkpoint_dir: str | Path) -> Iterator[tuple[Any, Path | None]]:  # fmt: skip
    """`stage_run` that continues an interrupted training: yields (MLflow run or None on ranks
    > 0, checkpoint to resume from or None). A stage that completes removes its resume record
    and checkpoints, so the next run of changed params starts fresh."""
    from transformer_mlops.tracking.runs import is_global_zero, redact, stage_run, tracking_uri

    rank_zero = is_global_zero()
    point = ResumePoint.find(checkpoint_dir, fingerprint(params, Path("data/prepared") / data_task),
                             clear_stale=rank_zero)  # fmt: skip
    with stage_run(task, stage, params, data_task, resume_run_id=point.run_id) as run:
        if run is not None:
            point.started(run.info.run_id, redact(tracking_uri()))
        yield run, point.checkpoint
    if rank_zero:
        point.finished()


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
