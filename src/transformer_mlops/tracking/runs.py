"""MLflow tracking for the pipeline's stages: one experiment per task; one run per training
stage, and one per evaluation nested under the training run it evaluated.

- Where the store is and how to reach it: `connection` (the default is the embedded SQLite
  store `mlflow.db` in the project root, artifacts under `mlartifacts/`, both git-ignored).
- A training stage opens the run (`stage_run`) with the params it used, Lightning's
  MLFlowLogger streams step/epoch metrics into it, and `reports/runs/<task>.json` records its
  id: the evaluation stage opens a child run of it (`log_evaluation`: its own params, the test
  metrics and reports), and the register stage logs the model into it.
- Run names say what differs: the stage and the DVC experiment name (`dvc exp run`), or else
  the params changed since the last commit, or else the commit.
- Lineage tags: git commit and dirty flag (of the code: files the pipeline rewrites do not
  count), the DVC stage, and the DVC hashes (md5, computed as DVC does) of the prepared data
  and validation report the run saw; the prepared splits are also logged as MLflow dataset
  inputs with the DVC hash as digest.
- Only global rank 0 talks to MLflow; credentials never reach logs or tags (`secrets.redact`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import subprocess
import time
import warnings
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


# What the pipeline itself rewrites in git-tracked files: a run of clean code is not "dirty"
# because dvc.lock or a report changed; params.yaml is logged as params (dvc exp run edits it).
PIPELINE_WRITTEN = ("dvc.lock", "reports", "docs/results.md", "params.yaml")


_MISSING = object()


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout


def git_state() -> dict[str, str]:
    """Commit and dirty flag of the code in the working tree ('unknown' outside git)."""
    try:
        commit = _git("rev-parse", "HEAD").strip()
        ignored = [f":(exclude){path}" for path in PIPELINE_WRITTEN]
        dirty = bool(
            _git("status", "--porcelain", "--untracked-files=no", "--", ".", *ignored).strip()
        )
    except (OSError, subprocess.CalledProcessError):
        return {"git.commit": "unknown", "git.dirty": "unknown"}
    return {"git.commit": commit, "git.dirty": str(dirty).lower()}


def changed_params(section: str, params: dict[str, Any]) -> dict[str, Any]:
    """The keys of `params` (params.yaml's `section`, as the run used it) whose value in
    params.yaml differs from the last commit's: what `dvc exp run -S` or an edit changed."""
    import yaml

    try:
        committed = yaml.safe_load(_git("show", "HEAD:params.yaml")) or {}
        current = yaml.safe_load(Path("params.yaml").read_text(encoding="utf-8")) or {}
    except (OSError, subprocess.CalledProcessError, yaml.YAMLError):
        return {}
    before, now = flatten(committed.get(section) or {}), flatten(current.get(section) or {})
    used = flatten(params)
    return {k: v for k, v in now.items() if k in used and before.get(k, _MISSING) != v}


def run_name(stage: str, section: str, params: dict[str, Any], commit: str) -> str:
    """`<stage> <what differs>`: the DVC experiment's name in `dvc exp run`, else the params
    changed since the last commit (`seq2seq.eval.beam_size=3`), else the short `commit`."""
    experiment = os.environ.get("DVC_EXP_NAME")
    if experiment:
        return f"{stage} {experiment}"
    changed = changed_params(section, params)
    if changed:
        text = ", ".join(f"{section}.{k}={v}" for k, v in sorted(changed.items()))
        return f"{stage} {text[:80]}{'...' if len(text) > 80 else ''}"
    return f"{stage} @{commit[:7]}" if commit != "unknown" else stage


DATA_SOURCES = ("synthetic", "files", "hub")


def used_params(params: dict[str, Any]) -> dict[str, Any]:
    """What a training run used of its task's section: not `eval` (the evaluation run logs it),
    and of `data` only the source it read (a synthetic run has no `data.files.*`)."""
    used = {k: v for k, v in params.items() if k != "eval"}
    data = used.get("data")
    if isinstance(data, dict) and data.get("source") in DATA_SOURCES:
        used["data"] = {k: v for k, v in data.items()
                        if k not in DATA_SOURCES or k == data["source"]}  # fmt: skip
    return used


def _loggable(params: dict[str, Any]) -> dict[str, Any]:
    return {
        k: json.dumps(v) if isinstance(v, list | dict) else v for k, v in flatten(params).items()
    }


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
        with warnings.catch_warnings():  # "can be interpreted in multiple ways": the two
            # candidates are MLflow's one local-file source, registered for '' and 'file:'
            warnings.filterwarnings("ignore", message="The specified dataset source can be")
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
    experiment, run record and registered model (scratch, ner, qa); `data_task` the prepared data
    and the params.yaml section `params` come from.

    Logs the params the run used (flattened), lineage tags and data inputs, yields the active
    run, and records its id in reports/runs/<task>.json when the block succeeds.
    `resume_run_id` continues an interrupted run.
    """
    if not is_global_zero():
        yield None
        return
    started = time.perf_counter()
    import mlflow

    uri = connect()
    experiment_id = _experiment(mlflow, task, uri)
    used, git = used_params(params), git_state()
    name = None if resume_run_id else run_name(stage, data_task, used, git["git.commit"])
    with mlflow.start_run(run_id=resume_run_id, experiment_id=None if resume_run_id else experiment_id,
                          run_name=name) as run:  # fmt: skip
        if resume_run_id is None:
            mlflow.log_params(_loggable(used))
        tags = {"dvc.stage": stage, "task": task, **git,
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


def log_evaluation(task: str, stage: str, params: dict[str, Any], metrics: dict[str, Any],
                   artifacts: dict[str, list[str]], section: str | None = None) -> str:  # fmt: skip
    """The evaluation's own MLflow run, a child of the task's training run: the `params` it used
    (keys as in params.yaml's `section` of the task, e.g. {"eval": {...}, "max_length": 256};
    `section` defaults to the task), the test `metrics`, and the report files (`artifacts` maps
    an artifact folder to files; missing files are skipped). Returns the run id (rank 0)."""
    import mlflow

    started = time.perf_counter()
    parent_id = recorded_run_id(task)
    if parent_id is None:
        raise UserError(
            f"{run_record_path(task)}: no MLflow run recorded; run the task's training stage first"
        )
    section = section or task
    uri = connect()
    parent = mlflow.MlflowClient(tracking_uri=uri).get_run(parent_id)
    git = git_state()
    name = run_name(stage, section, params, git["git.commit"])
    with mlflow.start_run(experiment_id=parent.info.experiment_id, run_name=name,
                          tags={"mlflow.parentRunId": parent_id}) as run:  # fmt: skip
        mlflow.log_params(_loggable(params))
        mlflow.set_tags({"dvc.stage": stage, "task": task, "evaluates": parent_id, **git,
                         **{k: v for k, v in parent.data.tags.items() if k.startswith("data.")}})  # fmt: skip
        log_numeric_metrics(mlflow, metrics)
        for folder, paths in artifacts.items():
            for path in paths:
                if Path(path).is_file():
                    mlflow.log_artifact(path, artifact_path=folder)
    log.info("logged evaluation of %s to MLflow run %s (child of %s) in %.1f s", task,
             run.info.run_id, parent_id, time.perf_counter() - started)  # fmt: skip
    return run.info.run_id
