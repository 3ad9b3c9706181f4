"""The pipeline a user waits for: the default `dvc repro` from scratch, a no-op `dvc repro`,
and the share of the first that MLflow takes.

Runs in a throwaway copy of the project (its git-visible files, a fresh git repo and MLflow
store), so the workspace is not touched. MLflow's share is read from the stages' own timing
lines: run set-up, logging the evaluations, and the whole `register` stage (imports included).
Lightning's MLFlowLogger writes during training are not in it (about 1.6 s, measured apart).

BENCH_PIPELINE_IN_WORKSPACE=1 measures `dvc repro --force` in the workspace itself instead
(every stage runs, as from scratch; the outputs, dvc.lock and MLflow store are then current).

BENCH_PIPELINE_NOOP_ONLY=1 re-measures only the no-op `dvc repro` (in the workspace, which must
be up to date) and keeps the other figures of the last run.

Usage: python -m benchmarks.pipeline
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import REPEATS, REPORTS, ROOT, machine, median, write_result

MLFLOW_LINES = {
    "run_setup": re.compile(r"MLflow run \S+ \(experiment \S+\) at .*: set up in ([\d.]+) s"),
    "evaluation_logging": re.compile(r"logged evaluation of \w+ to MLflow run \S+ in ([\d.]+) s"),
    "register_stage": re.compile(r"register stage: ([\d.]+) s including imports"),
}


def copy_project(dest: Path) -> Path:
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.split("\0")  # fmt: skip
    for name in filter(None, listed):
        if (ROOT / name).is_file() and not name.startswith("reports/bench/"):
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"],
                ["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost", "commit", "-qm", "copy"]):  # fmt: skip
        subprocess.run(cmd, cwd=dest, check=True, capture_output=True)
    return dest


def dvc_repro(project: Path, *options: str) -> tuple[float, str]:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    started = time.perf_counter()
    proc = subprocess.run(["dvc", "repro", *options], cwd=project, env=env, capture_output=True,
                          text=True)  # fmt: skip
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"dvc repro failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return seconds, proc.stdout + proc.stderr


def noop_only() -> dict[str, Any]:
    previous = json.loads((REPORTS / "pipeline.json").read_text())
    first, log = dvc_repro(ROOT)
    if "Running stage" in log:
        raise RuntimeError("the workspace was not up to date: run dvc repro first")
    noop = [first] + [dvc_repro(ROOT)[0] for _ in range(REPEATS - 1)]
    return previous | {"pipeline_noop_seconds": round(median(noop), 2),
                       "pipeline_noop_all_seconds": [round(v, 2) for v in noop],
                       "noop_where": "workspace, measured apart from the full run"}  # fmt: skip


def run() -> dict[str, Any]:
    if os.environ.get("BENCH_PIPELINE_NOOP_ONLY") == "1":
        return noop_only()
    in_workspace = os.environ.get("BENCH_PIPELINE_IN_WORKSPACE") == "1"
    with tempfile.TemporaryDirectory() as tmp:
        project = ROOT if in_workspace else copy_project(Path(tmp) / "project")
        full, log = dvc_repro(project, "--force") if in_workspace else dvc_repro(project)
        noop = [dvc_repro(project)[0] for _ in range(REPEATS)]
    mlflow = {name: round(sum(float(v) for v in pattern.findall(log)), 1)
              for name, pattern in MLFLOW_LINES.items()}  # fmt: skip
    mlflow_seconds = sum(mlflow.values())
    stage_seconds = {m.group(1): None for m in re.finditer(r"Running stage '([^']+)'", log)}
    return {
        "machine": machine(),
        "where": "workspace, dvc repro --force" if in_workspace else "fresh copy of the project",
        "stages_run": len(stage_seconds),
        "pipeline_from_scratch_seconds": round(full, 1),
        "pipeline_noop_seconds": round(median(noop), 2),
        "pipeline_noop_all_seconds": [round(v, 2) for v in noop],
        "mlflow_seconds": mlflow | {"total": round(mlflow_seconds, 1)},
        "mlflow_share": round(mlflow_seconds / full, 4),
    }


if __name__ == "__main__":
    outcome = run()
    write_result("pipeline", outcome)
    print({k: v for k, v in outcome.items() if k != "machine"})
