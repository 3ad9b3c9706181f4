"""A real `mlflow server` on 127.0.0.1 with the backend a team would use (PostgreSQL; SQLite
when no PostgreSQL is installed, said in the test output), artifacts proxied by the server.
A tiny NER stage trains against it over HTTP, its model is registered and loaded back."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import tiny_profile
from tests.integration.conftest import copy_project, edit_params, project_env, run

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(check, what: str, timeout: float = 120.0) -> None:
    deadline = time.time() + timeout
    while not check():
        assert time.time() < deadline, f"{what} did not come up in {timeout:.0f} s"
        time.sleep(0.5)


def wait_healthy(process: subprocess.Popen, base: str, log: Path, what: str) -> None:
    """Wait until the server at `base` answers /health; fail with its log if it dies first."""

    def healthy() -> bool:
        assert process.poll() is None, log.read_text()[-3000:]
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    wait_until(healthy, what, timeout=180)


def _postgres_bin() -> Path | None:
    found = shutil.which("initdb") or shutil.which("pg_ctl")
    if found:
        return Path(os.path.realpath(found)).parent
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return candidates[-1].parent if candidates else None


@pytest.fixture(scope="module")
def backend_uri():
    """postgresql://... of a throwaway cluster on loopback, or a SQLite URI when none exists."""
    bin_dir = _postgres_bin()
    # Not under pytest's tmp tree: the postgres user must be able to reach its data folder.
    root = Path(tempfile.mkdtemp(prefix="tmlops-pg-"))
    if bin_dir is None:
        print("\nno PostgreSQL installed: the server test falls back to a SQLite backend")
        yield f"sqlite:///{root / 'mlflow.db'}"
        return
    data, port = root / "pgdata", free_port()
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_postgres:  # PostgreSQL refuses to run as root
        shutil.chown(root, "postgres")
    subprocess.run([*as_postgres, str(bin_dir / "initdb"), "-D", str(data), "-U", "mlflow",
                    "--auth=trust", "-E", "UTF8"], check=True, capture_output=True)  # fmt: skip
    subprocess.run([*as_postgres, str(bin_dir / "pg_ctl"), "-D", str(data), "-w", "-l", str(root / "pg.log"),
                    "-o", f"-p {port} -k {root} -c listen_addresses=127.0.0.1", "start"],
                   check=True, capture_output=True)  # fmt: skip
    try:
        subprocess.run([*as_postgres, str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port),
                        "-U", "mlflow", "mlflow"], check=True, capture_output=True)  # fmt: skip
        yield f"postgresql+psycopg2://mlflow@127.0.0.1:{port}/mlflow"
    finally:
        subprocess.run([*as_postgres, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"],
                       capture_output=True)  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def server(backend_uri, tmp_path_factory):
    root, port = tmp_path_factory.mktemp("server"), free_port()
    env = {**project_env(), "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    log_file = (root / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", backend_uri,
         "--artifacts-destination", str(root / "artifacts"), "--serve-artifacts",
         "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        env=env, stdout=log_file, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip

    wait_healthy(process, f"http://127.0.0.1:{port}", root / "server.log", "mlflow server")
    yield f"http://127.0.0.1:{port}", backend_uri
    os.killpg(process.pid, 15)
    process.wait(timeout=30)
    log_file.close()


def test_a_stage_trains_against_the_server_registers_and_loads_back(server, tmp_path):
    uri, backend = server
    project = copy_project(tmp_path / "project")

    edit_params(project, tiny_profile)
    env = {**project_env(), "MLFLOW_TRACKING_URI": uri}
    subprocess.run(["dvc", "repro", "evaluate_ner"], cwd=project, env=env, check=True,
                   capture_output=True, text=True)  # fmt: skip
    assert not (project / "mlflow.db").exists()  # nothing went to the embedded default
    record = json.loads((project / "reports/runs/ner.json").read_text())
    assert record["tracking_uri"] == uri
    code = ("import json; from transformer_mlops.config import NerInference; "
            "from transformer_mlops.tracking.registry import register; "
            "print(json.dumps(register('ner', NerInference())))")  # fmt: skip
    registered = subprocess.run([sys.executable, "-c", code], cwd=project, env=env, check=True,
                                capture_output=True, text=True)  # fmt: skip
    decision = json.loads(registered.stdout.strip().splitlines()[-1])
    assert decision["version"] == "1" and decision["decision"] == "promoted: no champion yet"

    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    found = client.get_run(record["run_id"])
    assert found.data.tags["dvc.stage"] == "finetune_ner"
    (evaluation,) = client.search_runs(
        [found.info.experiment_id], f"tags.mlflow.parentRunId = '{record['run_id']}'"
    )
    assert "test/f1" in evaluation.data.metrics  # the evaluation's own run, nested
    assert client.list_artifacts(evaluation.info.run_id, "reports")  # proxied by the server
    loaded = subprocess.run(["tmlops", "predict", "ner", "--model", "models:/ner@champion",
                             "Angela Merkel met Tim Cook in Paris."], cwd=project, env=env,
                            check=True, capture_output=True, text=True)  # fmt: skip
    result = json.loads(loaded.stdout)
    for entity in result["entities"]:
        assert result["text"][entity["start"] : entity["end"]] == entity["text"]
    if backend.startswith("postgresql"):
        tables = run(
            ["psql", backend.replace("+psycopg2", ""), "-tAc", "select count(*) from runs"],
            tmp_path,
        ).stdout
        assert int(tables.strip()) == 2  # the training run and its evaluation
