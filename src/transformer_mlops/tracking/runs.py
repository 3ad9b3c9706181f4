"""MLflow tracking for the pipeline's stages: one experiment per task, one run per training stage.

- Where the store is and how to reach it: `connection` (the default is the embedded SQLite
  store `mlflow.db` in the project root, artifacts under `mlartifacts/`, both git-ignored).
- A training stage opens the run (`stage_run`), Lightning's MLFlowLogger streams step/epoch
  metrics into it, and `reports/runs/<task>.json` records its id: the evaluation and register
  stages reopen the same run, and a DVC experiment leads to its MLflow run.
- Lineage tags: git commit and dirty flag, the DVC stage, and the DVC hashes (md5, computed as
  DVC does) of the prepared data and validation report the run saw; the prepared splits are
  also logged as MLflow dataset inputs with the DVC hash as digest.
- Only global rank 0 talks to MLflow; credentials never reach logs or tags (`secrets.redact`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from transformer_mlops.distributed import is_global_zero
from transformer_mlops.errors import UserError
from transformer_mlops.hashing import dvc_md5, file_md5s, listing_md5
from transformer_mlops.io import read_json_if_exists, write_json
from transformer_mlops.secrets import redact
from transformer_mlops.tracking.connection import connect, tracking_uri

log = logging.getLogger(__name__)

ARTIFACT_DIR = "mlartifacts"
RUNS_DIR = Path("reports/runs")


# ------------------------------------------------------------------------------- lineage


def git_state() -> dict[str, str]:
    """Commit and dirty flag of the working tree ('unknown' outside git)."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout

    try:
        commit = git("rev-parse", "HEAD").strip()
        dirty = bool(git("status", "--porcelain", "--untracked-files=no").strip())
    except (OSError, subprocess.CalledProcessError):
        return {"git.commit": "unknown", "git.dirty": "unknown"}
    return {"git.commit": commit, "git.dirty": str(dirty).lower()}


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"train": {"lr": 1}} -> {"train.lr": 1}; lists stay whole values."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


# ---------------------------------------------------------------------------------- runs


def _experiment(mlflow, task: str, uri: str) -> str:
    """The task's experiment id; with the embedded store its artifacts go to mlartifacts/<task>."""
    name = f"transformer-mlops-{task}"
    found = mlflow.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    location = None
    if uri.startswith("sqlite:") or uri.startswith("file:"):
        location = (Path(ARTIFACT_DIR) / task).resolve().as_uri()
    # Without this tag MLflow 3's UI opens an experiment on its GenAI (traces) pages.
    return mlflow.create_experiment(
        name, artifact_location=location, tags={"mlflow.experimentKind": "custom_model_development"}
    )


def run_record_path(task: str) -> Path:
    """reports/runs/<task>.json: the MLflow run of the task's last training stage."""
    return RUNS_DIR / f"{task}.json"


def recorded_run_id(task: str) -> str | None:
    """The run id a training stage wrote to reports/runs/<task>.json, if any."""
    record = read_json_if_exists(run_record_path(task))
    return record.get("run_id") if record else None


def log_data_inputs(mlflow, data_task: str) -> dict[str, str]:
    """Each prepared split of `data_task` as an MLflow dataset input (digest = its DVC md5);
    returns lineage tags: DVC hashes of the prepared data, the test split, the validation report."""
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.meta_dataset import MetaDataset

    prepared_dir = Path("data/prepared") / data_task
    md5s = file_md5s(prepared_dir)  # each file read once: split digests and the dir hash
    contexts = {"train": "training", "validation": "validation", "test": "testing"}
    for split, context in contexts.items():
        name = f"{split}.jsonl"
        if name not in md5s:
            continue
        source = resolve_dataset_source((prepared_dir / name).resolve().as_uri())
        dataset = MetaDataset(source, name=f"{data_task}-{split}", digest=md5s[name][:32])
        mlflow.log_input(dataset, context=context)
    tags = {f"data.{prepared_dir.as_posix()}": listing_md5(md5s)}
    validation_report = Path("reports/validation") / f"{data_task}.json"
    if validation_report.is_file():
        tags[f"data.{validation_report.as_posix()}"] = dvc_md5(validation_report)
    if "test.jsonl" in md5s:
        tags["data.test_md5"] = md5s["test.jsonl"]
    return tags


@contextlib.contextmanager
def stage_run(task: str, stage: str, params: dict[str, Any], data_task: str,
              resume_run_id: str | None = None) -> Iterator[Any]:  # fmt: skip
    """Open the training run of a stage (rank 0 only; other ranks get None). `task` names the
    experiment, run record and registered model (scratch, ner, qa); `data_task` the prepared data.

    Logs flattened params, lineage tags and data inputs, yields the active run, and records
    its id in reports/runs/<task>.json when the block succeeds. `resume_run_id` continues an
    interrupted run.
    """
    if not is_global_zero():
        yield None
        return
    started = time.perf_counter()
    import mlflow

    uri = connect()
    experiment_id = _experiment(mlflow, task, uri)
    with mlflow.start_run(run_id=resume_run_id, experiment_id=None if resume_run_id else experiment_id,
                          run_name=None if resume_run_id else stage) as run:  # fmt: skip
        if resume_run_id is None:
            mlflow.log_params({k: json.dumps(v) if isinstance(v, list | dict) else v
                               for k, v in flatten(params).items()})  # fmt: skip
        tags = {"dvc.stage": stage, "task": task, **git_state(),
                **log_data_inputs(mlflow, data_task)}  # fmt: skip
        mlflow.set_tags(tags)
        log.info("MLflow run %s (experiment %s) at %s: set up in %.1f s", run.info.run_id,
                 experiment_id, redact(uri), time.perf_counter() - started)  # fmt: skip
        yield run
        # only a run that finished is recorded: evaluation and register never see a FAILED one
        write_json(run_record_path(task), {"run_id": run.info.run_id, "experiment_id": experiment_id,
                                           "stage": stage, "tracking_uri": redact(uri)})  # fmt: skip


def lightning_logger(run):
    """An MLFlowLogger writing step/epoch metrics into `run` (None on ranks > 0: no logger)."""
    if run is None:
        return False
    from lightning.pytorch.loggers import MLFlowLogger

    class _MetricsOnly(MLFlowLogger):
        def log_hyperparams(self, params, *args, **kwargs) -> None:
            """The stage logs its params itself, flattened from params.yaml."""

    return _MetricsOnly(tracking_uri=tracking_uri(), run_id=run.info.run_id, log_model=False)


@contextlib.contextmanager
def reopen_run(task: str) -> Iterator[Any]:
    """Reopen the run the task's training stage recorded (evaluation / register stages)."""
    run_id = recorded_run_id(task)
    if run_id is None:
        raise UserError(
            f"{run_record_path(task)}: no MLflow run recorded; run the task's training stage first"
        )
    import mlflow

    connect()
    with mlflow.start_run(run_id=run_id) as run:
        yield run


_METRIC_NAME = re.compile(r"[^A-Za-z0-9_\-. :/]")  # characters MLflow refuses in names


def log_numeric_metrics(mlflow, metrics: dict[str, Any], prefix: str = "") -> None:
    """Log every number of a (nested) metrics dict; MLflow keys use '/' and '.' as given."""
    flat = flatten(metrics, prefix)
    mlflow.log_metrics({_METRIC_NAME.sub("_", k): float(v) for k, v in flat.items()
                        if isinstance(v, int | float) and not isinstance(v, bool)})  # fmt: skip


def log_speed(run, speed: dict[str, Any]) -> None:
    """Throughput and wall time of the training stage into its run (no-op on ranks > 0)."""
    if run is None:
        return
    import mlflow

    log_numeric_metrics(mlflow, speed)


def log_evaluation(task: str, metrics: dict[str, Any], artifacts: dict[str, list[str]]) -> None:
    """Test metrics and report files into the task's training run (rank 0, after evaluation).
    `artifacts` maps an artifact folder to files; missing files are skipped."""
    started = time.perf_counter()
    with reopen_run(task) as run:
        import mlflow

        log_numeric_metrics(mlflow, metrics)
        for folder, paths in artifacts.items():
            for path in paths:
                if Path(path).is_file():
                    mlflow.log_artifact(path, artifact_path=folder)
    log.info("logged evaluation of %s to MLflow run %s in %.1f s", task, run.info.run_id,
             time.perf_counter() - started)  # fmt: skip
