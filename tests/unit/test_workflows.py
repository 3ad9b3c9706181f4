from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml
from packaging.specifiers import SpecifierSet
from packaging.version import Version

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


CPU_INDEX = "https://download.pytorch.org/whl/cpu"
SKIP_MESSAGE = "no DVC remote configured (secret DVC_REMOTE_URL); skipping dvc push"


def load(root: Path, name: str) -> dict:
    return yaml.safe_load((root / ".github/workflows" / name).read_text())


def run_step_script(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """A `run:` script as GitHub's bash runs it, with only `env` (and PATH) set."""
    return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
                          cwd=cwd, env={"PATH": "/usr/bin:/bin", **env},
                          capture_output=True, text=True, timeout=60)  # fmt: skip


def torch_install_line(root: Path, **variables: str) -> str:
    drop = ("TORCH_INDEX_URL", "MAKEFLAGS", "MFLAGS", "MAKELEVEL")  # also when run under make
    env = {k: v for k, v in os.environ.items() if k not in drop}
    proc = subprocess.run(["make", "-n", "-B", "setup", *(f"{k}={v}" for k, v in variables.items())],
                          cwd=root, env=env, capture_output=True, text=True, check=True)  # fmt: skip
    (line,) = [line for line in proc.stdout.splitlines() if "torch==" in line]
    return line


def test_every_workflow_that_sets_up_takes_torch_from_the_cpu_index(root):
    # Every make target but help/clean runs `make setup`; on GitHub it must not fetch CUDA torch.
    checked = set()
    for path in sorted((root / ".github/workflows").glob("*.yml")):
        workflow = yaml.safe_load(path.read_text())
        for job in workflow["jobs"].values():
            for step in job["steps"]:
                if "make " in step.get("run", ""):
                    env = {**workflow.get("env", {}), **job.get("env", {}), **step.get("env", {})}
                    assert env.get("TORCH_INDEX_URL") == CPU_INDEX, (path.name, step["name"])
                    checked.add(path.name)
    assert checked == {"repro.yml", "test.yml"}
    # Here (variable unset) the line is the plain one: pip takes the local CPU wheel.
    assert torch_install_line(root) == ".venv/bin/python -m pip install --quiet torch==2.13.0"
    assert torch_install_line(root, TORCH_INDEX_URL=CPU_INDEX) == (
        f".venv/bin/python -m pip install --quiet torch==2.13.0 --extra-index-url {CPU_INDEX}"
    )
    # With both indexes, pip takes the CPU index's 2.13.0+cpu: it sorts above PyPI's CUDA 2.13.0
    # and satisfies the lock's pin, so the `-c requirements.lock` install keeps it.
    (pin,) = [line for line in (root / "requirements.lock").read_text().splitlines()
              if line.startswith("torch==")]  # fmt: skip
    assert pin == "torch==2.13.0"
    assert Version("2.13.0+cpu") > Version("2.13.0")
    assert SpecifierSet(pin.removeprefix("torch")).contains("2.13.0+cpu")


def test_ci_installs_a_browser_its_driver_and_postgresql_before_the_tests(root, tmp_path):
    steps = load(root, "test.yml")["jobs"]["test"]["steps"]
    tests_at = next(i for i, step in enumerate(steps) if step.get("run") == "make test-all")
    before = steps[:tests_at]
    chrome = next(
        s for s in before if s.get("uses", "").startswith("browser-actions/setup-chrome@")
    )
    assert chrome["with"]["install-chromedriver"] is True
    # the next step hands the browser and driver to tests/integration/browser.py
    export = next(s for s in before if "CHROME_BIN" in s.get("run", ""))
    outputs = {f"${{{{ steps.{chrome['id']}.outputs.{name} }}}}" for name in
               ("chrome-path", "chromedriver-path")}  # fmt: skip
    assert set(export["env"].values()) == outputs
    github_env = tmp_path / "github-env"
    proc = run_step_script(export["run"], tmp_path, {"CHROME_PATH": "/usr/bin/true",
                           "DRIVER_PATH": "/bin/true", "GITHUB_ENV": str(github_env)})  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert github_env.read_text().splitlines() == ["CHROME_BIN=/usr/bin/true",
                                                   "CHROMEDRIVER=/bin/true"]  # fmt: skip
    # PostgreSQL's initdb where the real-server test looks for it, installed when missing
    postgres = next(s for s in before if "postgresql" in s.get("run", ""))
    assert "/usr/lib/postgresql/*/bin/initdb" in postgres["run"]
    assert "apt-get install" in postgres["run"]


def test_browser_paths_come_from_chrome_bin_and_chromedriver(monkeypatch):
    from tests.integration.browser import chromium_paths

    monkeypatch.setenv("CHROME_BIN", "/opt/chrome/chrome")
    monkeypatch.setenv("CHROMEDRIVER", "/opt/chrome/chromedriver")
    assert chromium_paths() == ("/opt/chrome/chrome", "/opt/chrome/chromedriver")


def push_step(root: Path) -> dict:
    steps = load(root, "repro.yml")["jobs"]["repro"]["steps"]
    (step,) = [step for step in steps if "dvc push" in step.get("run", "")]
    return step


def test_dvc_push_runs_only_where_the_remote_secret_is_set(root, tmp_path):
    step = push_step(root)
    assert step["env"]["DVC_REMOTE_URL"] == "${{ secrets.DVC_REMOTE_URL }}"
    # No remote (a fork's pull request, or none configured): says so and succeeds, no dvc call
    # (there is no .venv in tmp_path, so going on would fail).
    for env in ({"DVC_REMOTE_URL": ""}, {}):
        proc = run_step_script(step["run"], tmp_path, env)
        assert proc.returncode == 0, proc.stderr
        assert SKIP_MESSAGE in proc.stdout


def test_dvc_push_adds_the_secret_remote_and_its_plugin(root, tmp_path):
    step = push_step(root)
    log = tmp_path / "calls.log"
    (tmp_path / ".venv/bin").mkdir(parents=True)
    for name in ("python", "dvc"):  # stand-ins that record how they were called
        shim = tmp_path / ".venv/bin" / name
        shim.write_text(
            f'#!/bin/bash\necho "{name} $* key=${{AWS_ACCESS_KEY_ID-unset}}" >> "$LOG"\n'
        )
        shim.chmod(0o755)
    empty_secrets = {name: "" for name in step["env"] if name != "DVC_REMOTE_URL"}
    proc = run_step_script(step["run"], tmp_path, {**empty_secrets, "LOG": str(log),
                           "DVC_REMOTE_URL": "s3://bucket/project", "AWS_ACCESS_KEY_ID": "AK"})  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert log.read_text().splitlines() == [
        "python -m pip install --quiet -c requirements.lock dvc[s3] key=AK",
        "dvc remote add --local --default --force ci s3://bucket/project key=AK",
        "dvc push key=AK",
    ]
    log.unlink()
    # A local folder needs no plugin; secrets not set are unset, not "".
    proc = run_step_script(step["run"], tmp_path, {**empty_secrets, "LOG": str(log),
                           "DVC_REMOTE_URL": "/mnt/remote"})  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert log.read_text().splitlines() == [
        "dvc remote add --local --default --force ci /mnt/remote key=unset",
        "dvc push key=unset",
    ]
