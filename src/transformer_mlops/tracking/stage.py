"""The training-stage runner: the three training stages run through `run_training_stage`.

It opens the task's MLflow run (one per training stage, see `runs.stage_run`), resumes an
interrupted run of the same params and data from its `last.ckpt` in the same MLflow run, calls
the task's `train(cfg, ...)`, and writes the stage's reports (speed, training curves) on rank 0.

Resuming: training writes `checkpoints/<task>/last.ckpt` (tasks/resume.py) and this module a
record beside it: a fingerprint of the stage's params and prepared data, and the MLflow run id.
After a crash or `kill -9`, the next `dvc repro` finds the record; when the fingerprint matches,
training continues from `last.ckpt`. A finished stage removes its record and checkpoints; a
record for other params or data is stale and is removed with its checkpoints.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transformer_mlops.config import TaskConfig
from transformer_mlops.distributed import is_global_zero
from transformer_mlops.hashing import dvc_md5
from transformer_mlops.io import read_json_if_exists, write_json
from transformer_mlops.secrets import redact
from transformer_mlops.tasks.resume import LAST, check_resumable
from transformer_mlops.tracking.connection import tracking_uri
from transformer_mlops.tracking.runs import lightning_logger, log_speed, stage_run

log = logging.getLogger(__name__)

RECORD = "resume.json"

# train(cfg, prepared_dir, model_dir, checkpoint_dir, logger=..., ckpt_path=...) -> summary
TrainFunction = Callable[..., dict[str, Any]]


def run_training_stage(task: str, stage: str, cfg: TaskConfig, train: TrainFunction,
                       data_task: str | None = None) -> dict[str, Any] | None:  # fmt: skip
    """Run a training stage: `train` on data/prepared/<data_task> into models/<task>, inside the
    task's MLflow run, resumed from checkpoints/<task> after an interruption.

    Args:
        task: the experiment, run record, model folder and reports name (scratch, ner, qa).
        stage: the DVC stage name, tagged on the run (and its name for a new run).
        cfg: the task's params section; its dump is logged and fingerprinted for resuming.
        train: the task's `train` function (tasks/<task>.py).
        data_task: the prepared data folder, when it differs from `task` (scratch: seq2seq).

    Returns:
        The training summary on rank 0 (reports written: reports/speed/<task>.json and any
        `plots` the summary carries, as reports/plots/<task>/<name>.json); None on other ranks.
    """
    data_task = data_task or task
    checkpoint_dir = f"checkpoints/{task}"
    with resumable_stage_run(task, stage, cfg.model_dump(), data_task, checkpoint_dir) as (
        run,
        resume,
    ):
        summary = train(cfg, f"data/prepared/{data_task}", f"models/{task}", checkpoint_dir,
                        logger=lightning_logger(run), ckpt_path=resume)  # fmt: skip
        if not is_global_zero():  # DDP: rank 0 writes the reports
            return None
        for name, rows in summary.pop("plots", {}).items():
            write_json(Path("reports/plots") / task / f"{name}.json", rows)
        speed = speed_report(summary)
        write_json(Path("reports/speed") / f"{task}.json", speed)
        log_speed(run, speed)
    return summary


def speed_report(summary: dict) -> dict:
    """What goes to reports/speed/<task>.json: timings live here, never in reports/metrics."""
    report = {
        "train/tokens_per_second": round(summary["train_tokens_per_second"], 1),
        "train/seconds": round(summary["train_seconds"], 1),
        "stage/wall_seconds": round(summary["wall_seconds"], 1),
        "train/steps": summary["global_step"],
        "train/precision": summary["precision"],
    }
    if "split_sentences" in summary:
        report["train/split_sentences"] = summary["split_sentences"]
    if "windows" in summary:
        report["train/windows"] = summary["windows"]
    return report


# ------------------------------------------------------------------------------ resuming


def fingerprint(params: dict[str, Any], data_dir: str | Path) -> str:
    """What a resumed run must share with the interrupted one: the params and the data hash."""
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
            check_resumable(last, directory)
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


@contextlib.contextmanager
def resumable_stage_run(task: str, stage: str, params: dict[str, Any], data_task: str,
                        checkpoint_dir: str | Path) -> Iterator[tuple[Any, Path | None]]:  # fmt: skip
    """`stage_run` that continues an interrupted training: yields (MLflow run or None on ranks
    > 0, checkpoint to resume from or None). A stage that completes removes its resume record
    and checkpoints, so the next run of changed params starts fresh."""
    rank_zero = is_global_zero()
    point = ResumePoint.find(checkpoint_dir, fingerprint(params, Path("data/prepared") / data_task),
                             clear_stale=rank_zero)  # fmt: skip
    with stage_run(task, stage, params, data_task, resume_run_id=point.run_id) as run:
        if run is not None:
            point.started(run.info.run_id, redact(tracking_uri()))
        yield run, point.checkpoint
    if rank_zero:
        point.finished()
