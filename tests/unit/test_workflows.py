from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

BIN = Path(sys.executable).parent


def test_actionlint_passes_on_every_workflow(root):
    workflows = sorted((root / ".github" / "workflows").glob("*.yml"))
    assert workflows
    proc = subprocess.run(
        [str(BIN / "actionlint"), *map(str, workflows)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ci_runs_the_readme_full_test_command(root):
    workflow = yaml.safe_load((root / ".github/workflows/test.yml").read_text())
    steps = [step.get("run", "") for job in workflow["jobs"].values() for step in job["steps"]]
    assert "make test-all" in steps
    readme = (root / "README.md").read_text()
    first_screen = "\n".join(readme.splitlines()[:40])
    assert "make repro" in first_screen and "make test" in first_screen
    assert "make test-all" in readme
    assert "make test-all" in (root / ".ci/run").read_text().splitlines()[-1]
