"""Every command that talks to the tracking server stops within 15 s, with exit status 2 and one
message naming the (redacted) server, when the server is down, answers 5xx or never answers."""

from __future__ import annotations

import http.server
import socket
import threading
import time

import pytest

from tests.integration.conftest import run

pytestmark = pytest.mark.integration

PASSWORD = "s3cret-Passw0rd"
COMMANDS = {
    "train": ["python", "pipelines/train_scratch.py"],
    "evaluate": ["python", "pipelines/evaluate_scratch.py"],
    "register": ["python", "pipelines/register.py"],
    "predict": ["tmlops", "predict", "scratch", "--model", "models:/scratch@champion", "3 May"],
    "serve": ["tmlops", "serve", "scratch", "--port", "1"],
    "compare": ["tmlops", "compare", "scratch"],
    "promote": ["tmlops", "promote", "scratch", "1", "--why", "test"],
    "rollback": ["tmlops", "rollback", "scratch"],
}


class _HealthyButFailing(http.server.BaseHTTPRequestHandler):
    """/health says 200, every API call 503: a server whose database is down."""

    def _answer(self) -> None:
        self.send_response(200 if self.path == "/health" else 503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = do_PATCH = do_DELETE = _answer

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def servers():
    """Ports: nobody listening; a 503 stub; a socket that accepts and never answers."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        closed_port = closed.getsockname()[1]
    stub = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HealthyButFailing)
    threading.Thread(target=stub.serve_forever, daemon=True).start()
    silent = socket.create_server(("127.0.0.1", 0), backlog=64)  # the kernel accepts; we never read
    yield {"down": closed_port, "503": stub.server_address[1], "silent": silent.getsockname()[1]}
    stub.shutdown()
    silent.close()


def check_fails_fast(project, command: list[str], port: int, problem: str) -> float:
    started = time.perf_counter()
    proc = run(command, project, check=False, timeout=120,
               env={"MLFLOW_TRACKING_URI": f"http://alice:{PASSWORD}@127.0.0.1:{port}"})  # fmt: skip
    seconds = time.perf_counter() - started
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, output
    assert seconds < 15, f"{command}: {seconds:.1f} s"
    assert f"MLflow tracking server http://127.0.0.1:{port}: {problem}" in proc.stderr, output
    assert PASSWORD not in output and "Traceback" not in output
    return seconds


EVERYDAY = {"train", "predict", "serve"}  # make test; the rest in the full suite


@pytest.mark.parametrize(
    "name", [n if n in EVERYDAY else pytest.param(n, marks=pytest.mark.slow) for n in COMMANDS]
)
def test_server_down_or_failing(tiny_registry, servers, name):
    for kind, problem in (("down", "connection refused"), ("503", "it answers HTTP 503")):
        seconds = check_fails_fast(tiny_registry, COMMANDS[name], servers[kind], problem)
        print(f"{name}, server {kind}: exit 2 after {seconds:.1f} s")


@pytest.mark.parametrize("name", ["register", pytest.param("predict", marks=pytest.mark.slow)])
def test_server_that_never_answers(tiny_registry, servers, name):
    seconds = check_fails_fast(
        tiny_registry, COMMANDS[name], servers["silent"], "no answer within 5 s"
    )
    print(f"{name}, server silent: exit 2 after {seconds:.1f} s")
