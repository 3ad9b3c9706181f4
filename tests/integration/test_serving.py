"""`tmlops serve` on loopback, a real uvicorn server of a tiny registered model: MLflow's
protocol, the limits, replies without echoes or stack traces, and a bounded load test."""

from __future__ import annotations

import json
import os
import socket

import pytest

from benchmarks.serving import load_test, post, start_server
from tests.integration.conftest import ROOT, project_env

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def url(tiny_registry):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = start_server("scratch", port, tiny_registry, project_env())
    yield f"http://127.0.0.1:{port}/invocations"
    os.killpg(server.pid, 15)
    server.wait(timeout=30)


def ask(url: str, payload, content_type: str = "application/json") -> tuple[int, dict]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    status, reply, _ = post(url, body, content_type)
    assert len(reply) < 1000 and b"Traceback" not in reply and b"stack_trace" not in reply
    assert str(ROOT).encode() not in reply and b"site-packages" not in reply
    return status, json.loads(reply)


def test_good_requests_follow_mlflow_protocol(url):
    status, body = ask(url, {"inputs": ["3rd of March 1987", "1987-03-03"]})
    assert status == 200 and len(body["predictions"]) == 2
    assert all(isinstance(p, str) for p in body["predictions"])


@pytest.mark.parametrize(
    ("payload", "content_type", "status", "message"),
    [
        (b'{"inputs": ["' + b"a" * 300_000 + b'"]}', "application/json", 413, "body over 262144 bytes"),
        (b"a,b\n1,2\n", "text/csv", 415, "application/json"),
        (b'{"inputs": ', "application/json", 400, "not valid JSON (line 1 column 12)"),
        (b'{"inputs": [3]}', "application/json", 400, '"inputs" must be list[str]'),
        (b'{"inputs": ["\\ud800"]}', "application/json", 400, "lone surrogate"),
        ({"inputs": ["x" * 200]}, "application/json", 400, "the scratch model reads at most 128"),
        ({"inputs": ["abc"] * 65}, "application/json", 400, "at most 64 per request"),
        ({"inputs": ["a" * 15_000, "b" * 15_000]}, "application/json", 400, "at most 20000 per request"),
    ],
)  # fmt: skip
def test_bad_requests_get_a_short_reason_and_no_echo(url, payload, content_type, status, message):
    got, body = ask(url, payload, content_type)
    assert got == status and message in body["message"], body
    assert "aaaa" not in body["message"] and "xxxx" not in body["message"]


def test_a_chunked_body_over_the_limit_is_cut_off(url):
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    chunks = (b"a" * 65_536 for _ in range(8))  # 512 KiB, no Content-Length
    connection.request("POST", parts.path, body=chunks, encode_chunked=True,
                       headers={"Content-Type": "application/json"})  # fmt: skip
    response = connection.getresponse()
    assert response.status == 413 and b"body over" in response.read()


@pytest.mark.slow  # 500 requests: half a minute
def test_load_good_and_bad_requests_mixed(url):
    good = ["3rd of March 1987", "1 May 2000", "12/05/1999", "March 3"]
    expected = {t: ask(url, {"inputs": [t]})[1]["predictions"][0] for t in good}
    result = load_test(url, good, expected, requests=500, in_flight=16)
    print(f"\nload test (tiny scratch model): {json.dumps(result)}")
    assert result["wrong_count"] == 0, result["wrong"]
    assert ask(url, {"inputs": ["3rd of March 1987"]})[0] == 200  # still up
