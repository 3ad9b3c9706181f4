"""A real `mlflow server --app-name basic-auth` on loopback: a stage trains and the register
stage registers with user:password@ in MLFLOW_TRACKING_URI, a registered model is loaded back,
a wrong password is one clear message, and the password shows up in no output, tag, param,
report or artifact."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from base64 import b64encode
from pathlib import Path

import pytest
import yaml

from tests.conftest import tiny_params, write_synthetic
from tests.integration.conftest import project_env, run, tiny_trained
from tests.integration.test_mlflow_server import free_port, wait_healthy

pytestmark = pytest.mark.integration

ADMIN_PASSWORD = "Admin-passw0rd-long"
PASSWORD = "Alice-s3cret-Passw0rd"


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory):
    pytest.importorskip("flask_wtf", reason="the basic-auth server needs mlflow[auth]")
    root, port = tmp_path_factory.mktemp("auth-server"), free_port()
    config = root / "basic_auth.ini"
    config.write_text("[mlflow]\ndefault_permission = READ\n"
                      f"database_uri = sqlite:///{root / 'users.db'}\nadmin_username = admin\n"
                      "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
                      "auth_cache_ttl_seconds = 300\n")  # PBKDF2 once, not on every request  # fmt: skip
    env = {**project_env(), "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
           "MLFLOW_AUTH_CONFIG_PATH": str(config), "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN_PASSWORD,
           "MLFLOW_FLASK_SERVER_SECRET_KEY": "test-secret-key"}  # fmt: skip
    log = (root / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--app-name", "basic-auth",
         "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
         "--artifacts-destination", str(root / "artifacts"), "--serve-artifacts",
         "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"

    wait_healthy(server, base, root / "server.log", "mlflow basic-auth server")
    admin = b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode()
    create = urllib.request.Request(f"{base}/api/2.0/mlflow/users/create", method="POST",
                                    data=json.dumps({"username": "alice", "password": PASSWORD}).encode(),
                                    headers={"Authorization": f"Basic {admin}",
                                             "Content-Type": "application/json"})  # fmt: skip
    urllib.request.urlopen(create, timeout=30).close()
    yield base, root
    server.terminate()
    server.wait(timeout=30)
    log.close()


@pytest.mark.slow  # trains and registers: a minute; make test keeps the fast auth checks
def test_train_and_register_with_credentials_in_the_uri(auth_server, tmp_path, default_params_raw):
    base, server_root = auth_server
    project = tmp_path / "project"
    project.mkdir()
    host = base.removeprefix("http://")
    env = {"MLFLOW_TRACKING_URI": f"http://alice:{PASSWORD}@{host}"}
    (project / "params.yaml").write_text(yaml.safe_dump(tiny_params(default_params_raw)))
    write_synthetic("seq2seq", project / "data/prepared/seq2seq", train=200, validation=40, test=40)
    tiny_trained(project, ("ner", "qa"), env=env)  # their runs opened with the credentials
    outputs = [run([sys.executable, "pipelines/train_scratch.py"], project, env=env)]  # trains
    (project / "reports/metrics/scratch.json").write_text('{"test/exact_match": 0.5}')
    outputs.append(run([sys.executable, "pipelines/register.py"], project, env=env))  # registers
    registry = json.loads((project / "reports/registry.json").read_text())
    assert {task: entry["version"] for task, entry in registry.items()} == {
        "scratch": "1", "ner": "1", "qa": "1"}  # fmt: skip
    outputs.append(run(["tmlops", "predict", "scratch", "--model", "models:/scratch@champion",
                        "3 May 1987"], project, env=env))  # fmt: skip
    assert json.loads(outputs[-1].stdout)["input"] == "3 May 1987"

    wrong = run(["tmlops", "compare", "scratch"], project, check=False,
                env={"MLFLOW_TRACKING_URI": f"http://alice:wrong-password-1@{host}"})  # fmt: skip
    assert wrong.returncode == 2 and "refused the credentials (HTTP 401)" in wrong.stderr
    assert "wrong-password-1" not in wrong.stderr + wrong.stdout

    for proc in outputs:
        assert PASSWORD not in proc.stdout + proc.stderr
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=base)
    import os

    os.environ.update(MLFLOW_TRACKING_USERNAME="admin", MLFLOW_TRACKING_PASSWORD=ADMIN_PASSWORD)
    try:
        runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
        assert len(runs) == 3  # two tiny runs and the trained one
        for found in runs:
            logged = json.dumps([found.data.tags, found.data.params])
            assert PASSWORD not in logged and "alice" not in found.data.tags.get("tracking_uri", "")
    finally:
        os.environ.pop("MLFLOW_TRACKING_USERNAME")
        os.environ.pop("MLFLOW_TRACKING_PASSWORD")
    for folder in (project, server_root / "artifacts"):
        leaked = [
            p
            for p in Path(folder).rglob("*")
            if p.is_file() and PASSWORD.encode() in p.read_bytes()
        ]
        assert not leaked
