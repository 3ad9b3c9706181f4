"""Faults a user meets: a training process killed with SIGKILL mid-run, and two `dvc repro`
started at once. Real processes, real DVC and MLflow (the embedded SQLite store)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time

import pytest

from tests.conftest import tiny_profile
from tests.integration.conftest import copy_project, edit_params, project_env, run

pytestmark = [pytest.mark.integration, pytest.mark.slow]
UP_TO_DATE = "Data and pipelines are up to date."


def slower_scratch(raw: dict) -> None:
    """Tiny, but long enough (240 steps) to be killed mid-training, with frequent checkpoints."""
    tiny_profile(raw)
    raw["seq2seq"]["train"].update(batch_size=10)
    raw["seq2seq"]["train"]["trainer"].update(max_epochs=12, checkpoint_every_n_steps=5)


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    project = copy_project(tmp_path_factory.mktemp("faults") / "project")
    edit_params(project, slower_scratch)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "tiny"], project)
    return project


def start(cmd: list[str], project) -> subprocess.Popen:
    return subprocess.Popen(cmd, cwd=project, env=project_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)  # fmt: skip


def test_kill_9_mid_training_then_repro_resumes_the_same_run_to_the_same_result(project):
    from mlflow import MlflowClient

    run(["dvc", "repro", "evaluate_scratch"], project)  # the uninterrupted reference
    metrics = (project / "reports/metrics/scratch.json").read_bytes()
    weights = sha256(project / "models/scratch/model.safetensors")
    first_run = json.loads((project / "reports/runs/scratch.json").read_text())["run_id"]
    assert not (project / "checkpoints/scratch/resume.json").exists()  # a finished stage cleans up

    training = start(["dvc", "repro", "--force", "train_scratch"], project)
    last = project / "checkpoints/scratch/last.ckpt"
    deadline = time.time() + 300
    while not last.exists():
        assert training.poll() is None, (
            f"training ended before its first checkpoint:\n{training.stdout.read()}"
        )
        assert time.time() < deadline, "no checkpoint in 300 s"
        time.sleep(0.05)
    time.sleep(0.5)
    assert training.poll() is None, "training finished before it could be killed"
    os.killpg(training.pid, signal.SIGKILL)
    training.wait(timeout=30)
    killed_run = json.loads((project / "checkpoints/scratch/resume.json").read_text())["run_id"]
    assert killed_run != first_run
    # the outputs persist (the run record names only finished runs) and their links wait aside
    assert json.loads((project / "reports/runs/scratch.json").read_text())["run_id"] == first_run
    assert sha256(project / "models/scratch/model.safetensors") == weights
    assert (project / "models/.scratch.kept").is_dir()

    # The outputs are whole and match dvc.lock, so a plain `dvc repro` has nothing to do; the
    # killed command run again puts the links back and continues from last.ckpt.
    assert "train_scratch" not in run(["dvc", "status", "train_scratch"], project).stdout
    out = run(["dvc", "repro", "--force", "train_scratch"], project)
    assert "put back the outputs of an interrupted run" in out.stdout + out.stderr
    assert "resuming from" in out.stdout + out.stderr
    run(["dvc", "repro", "evaluate_scratch"], project)
    assert json.loads((project / "reports/runs/scratch.json").read_text())["run_id"] == killed_run
    assert (project / "reports/metrics/scratch.json").read_bytes() == metrics
    assert sha256(project / "models/scratch/model.safetensors") == weights
    assert not (project / "checkpoints/scratch/resume.json").exists()
    assert not list((project / "models").glob(".*kept*"))

    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("transformer-mlops-scratch")
    found = client.search_runs([experiment.experiment_id])
    runs = {r.info.run_id: r for r in found if "mlflow.parentRunId" not in r.data.tags}
    assert set(runs) == {first_run, killed_run}  # continued, not a third training run
    evaluated = {r.data.tags["mlflow.parentRunId"] for r in found if r.info.run_id not in runs}
    # each evaluation nested under a training run (the resumed weights are the same bytes, so
    # DVC had no reason to evaluate them again)
    assert evaluated and evaluated <= set(runs)
    assert runs[killed_run].info.status == "FINISHED"
    assert run(["dvc", "status", "evaluate_scratch"], project).stdout.strip() == UP_TO_DATE


def test_two_repros_at_once_one_runs_the_other_stops_clearly(project):
    first = start(["dvc", "repro", "--force", "train_scratch"], project)
    lock = project / ".dvc/tmp/lock"
    training = project / "checkpoints/scratch/resume.json"  # written once training starts
    deadline = time.time() + 120
    while not training.exists():
        assert time.time() < deadline and first.poll() is None, "first repro did not start training"
        time.sleep(0.1)
    second = run(["dvc", "repro", "--force", "train_scratch"], project, check=False)
    assert second.returncode != 0
    message = second.stdout + second.stderr
    # DVC's repo lock, or its per-path lock naming the process that holds the stage's files
    assert (
        "Unable to acquire lock" in message and "another DVC process is running" in message
    ) or ("is busy, it is being blocked by" in message and f"PID {first.pid}" in message), message
    assert "Running stage 'train_scratch'" not in message
    assert first.wait(timeout=600) == 0, first.stdout.read()
    assert lock.exists()
    assert run(["dvc", "status", "train_scratch"], project).stdout.strip() == UP_TO_DATE
    # what the first one produced is whole: the model loads and the metrics stage runs on it
    run(["dvc", "repro", "evaluate_scratch"], project)
