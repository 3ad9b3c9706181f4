"""A throwaway copy of the project (its git-visible files) in a fresh git repo, and a runner."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import tiny_profile

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent  # the venv running the tests: dvc, python, tmlops


def project_env() -> dict[str, str]:
    """The environment of a command in a project: its own embedded MLflow store unless a test
    says otherwise (in-process `mlflow.set_tracking_uri` also sets MLFLOW_TRACKING_URI)."""
    env = dict(os.environ)
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        env.pop(name, None)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", DVC_NO_ANALYTICS="1",
               MLFLOW_DISABLE_TELEMETRY="true", GX_ANALYTICS_ENABLED="false")  # fmt: skip
    return env


def run(
    cmd: list[str], cwd: Path, check: bool = True, timeout: int = 900, env: dict | None = None
) -> subprocess.CompletedProcess:
    """Run a command in the copy (`env`: variables on top of the project's); on unexpected
    failure show its output."""
    proc = subprocess.run(
        cmd,
        cwd=cwd,
        env={**project_env(), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def copy_project(dest: Path) -> Path:
    """Copy the files git would see (tracked and untracked, not ignored) and commit them."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.split("\0")  # fmt: skip
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    # Relative data paths in params (../shared/datasets) resolve beside the copy.
    shared = ROOT.parent / "shared"
    if shared.is_dir() and not (dest.parent / "shared").exists():
        (dest.parent / "shared").symlink_to(shared)
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"],
                ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "copy"]):  # fmt: skip
        subprocess.run(cmd, cwd=dest, check=True, capture_output=True)
    return dest


def edit_params(project: Path, edit) -> None:
    path = project / "params.yaml"
    raw = yaml.safe_load(path.read_text())
    edit(raw)
    path.write_text(yaml.safe_dump(raw, sort_keys=False))


@pytest.fixture
def project(tmp_path) -> Path:
    return copy_project(tmp_path / "project")


@pytest.fixture(scope="session")
def tiny_full_project(tmp_path_factory):
    """One tiny `dvc repro` of the whole pipeline, shared by the modules that inspect it."""
    project = copy_project(tmp_path_factory.mktemp("full") / "project")
    edit_params(project, tiny_profile)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "tiny"], project)
    # no terminal here: training reports progress as log lines (every step with this setting)
    repro = run(["dvc", "repro"], project, env={"TMLOPS_PROGRESS_SECONDS": "0.001"})
    (project.parent / "repro-output.txt").write_text(repro.stdout + repro.stderr)
    # what this from-scratch run produced, before other tests change it (determinism checks)
    (project.parent / "reference-hashes.json").write_text(json.dumps(output_hashes(project)))
    return project


def output_hashes(project: Path) -> dict[str, str]:
    """sha256 of the metrics files and model weights: what a reproducible run must repeat."""
    paths = sorted((project / "reports/metrics").glob("*.json")) + sorted(
        (project / "models").rglob("*.safetensors")
    )
    return {str(p.relative_to(project)): hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


# What a training stage leaves for `register`: a finished MLflow run per task, its record in
# reports/runs/, test metrics and the test split. Run in the project, in a fresh process.
_RECORD_RUNS = """
import sys
from transformer_mlops.io import write_json
from transformer_mlops.tracking.runs import stage_run
keys = {"scratch": ("seq2seq", "test/exact_match"), "ner": ("ner", "test/f1"), "qa": ("qa", "test/f1")}
for task in sys.argv[1:]:
    data_task, key = keys[task]
    with stage_run(task, "tiny_" + task, {"tiny": True}, data_task):
        pass
    write_json(f"reports/metrics/{task}.json", {key: 0.5})
"""


def tiny_trained(project: Path, tasks: tuple[str, ...], env: dict | None = None) -> None:
    """What the training and evaluation stages of `tasks` leave for `register`, with tiny
    untrained models, in `project` (given params.yaml, dvc.yaml and pipelines/ of the repo)."""
    from tests.tiny_models import tiny_pretrained, tiny_scratch

    for name in ("params.yaml", "dvc.yaml"):
        if not (project / name).exists():
            shutil.copy2(ROOT / name, project / name)
    shutil.copytree(ROOT / "pipelines", project / "pipelines", dirs_exist_ok=True)
    data_tasks = {"scratch": "seq2seq", "ner": "ner", "qa": "qa"}
    for task in tasks:
        model_dir = project / "models" / task
        tiny_scratch(model_dir) if task == "scratch" else tiny_pretrained(model_dir, task)
        split = project / "data/prepared" / data_tasks[task] / "test.jsonl"
        split.parent.mkdir(parents=True, exist_ok=True)
        split.write_text('{"id": "0"}\n')
    run([sys.executable, "-c", _RECORD_RUNS, *tasks], project, env=env)


@pytest.fixture(scope="session")
def tiny_registry(tmp_path_factory) -> Path:
    """A project folder whose embedded MLflow store holds the three tiny registered models."""
    project = tmp_path_factory.mktemp("registry") / "project"
    project.mkdir()
    tiny_trained(project, ("scratch", "ner", "qa"))
    run([sys.executable, "pipelines/register.py"], project)
    return project


@pytest.hookimpl(trylast=True)  # after `-m` has deselected what it filters
def pytest_collection_modifyitems(config, items):
    """The everyday smoke of the contract matrix is a dozen of the matrix's own cases, for `make
    test`; where the whole matrix runs too (`make test-all`, CI), it would only repeat them."""
    smoke, matrix = "test_everyday_smoke_of_the_matrix[", "test_a_mistake_gives_one_clear_message"
    if not any(item.name.startswith(matrix) for item in items):
        return
    repeated = [item for item in items if item.name.startswith(smoke)]
    if repeated:
        config.hook.pytest_deselected(items=repeated)
        items[:] = [item for item in items if not item.name.startswith(smoke)]
