"""Credentials never shown: URIs, secret variables and log records are redacted, and a URI's
user:password@ moves into MLflow's own variables."""

from __future__ import annotations

import logging
import subprocess
import sys

from transformer_mlops.secrets import redact, redact_logs


def test_userinfo_and_secret_values_are_redacted(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "hunter2-long")
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "tok-12345")
    text = ("API request to http://alice:s%40cret@h:5000/api failed; token tok-12345, "
            "password hunter2-long; postgresql+psycopg2://u:p@db/x")  # fmt: skip
    assert redact(text) == ("API request to http://***@h:5000/api failed; token ***, "
                            "password ***; postgresql+psycopg2://***@db/x")  # fmt: skip
    assert redact("see http://host/path@x and a@b.c") == "see http://host/path@x and a@b.c"


def test_a_password_left_in_the_uri_variable_is_redacted_decoded_too(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://alice:p%40ss-word@127.0.0.1:5000")
    assert redact("user alice, password p@ss-word") == "user alice, password ***"


def test_every_log_record_is_redacted(monkeypatch, caplog):
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "hunter2-long")
    redact_logs()
    with caplog.at_level(logging.INFO):
        logging.getLogger("mlflow.some.module").info("retrying %s with %s",
                                                     "http://a:b@h/", "hunter2-long")  # fmt: skip
    assert caplog.records[-1].getMessage() == "retrying http://***@h/ with ***"


def test_uri_credentials_move_into_mlflow_variables(monkeypatch):
    from transformer_mlops.tracking.connection import tracking_uri

    for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD",
                 "MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "https://alice:s%2Fcret@mlflow.example:8443/base")
    assert tracking_uri() == "https://mlflow.example:8443/base"
    import os

    assert os.environ["MLFLOW_TRACKING_URI"] == "https://mlflow.example:8443/base"
    assert os.environ["MLFLOW_TRACKING_USERNAME"] == "alice"
    assert os.environ["MLFLOW_TRACKING_PASSWORD"] == "s/cret"
    assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "2"  # not MLflow's 7
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")
    tracking_uri()
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "60"  # the user's setting wins


def test_an_unexpected_error_prints_a_redacted_traceback(tmp_path):
    code = ("from transformer_mlops.runner import run_user_command\n"
            "def boom():\n    raise RuntimeError('failed at http://bob:s3cret-pw@10.0.0.1/')\n"
            "run_user_command(boom)")  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 1 and "Traceback" in proc.stderr
    assert "s3cret-pw" not in proc.stderr and "http://***@10.0.0.1/" in proc.stderr
