"""`tmlops serve` under load: the registered NER champion of the workspace (after `dvc repro`)
on loopback, 500 requests with 16 in flight, a mix of good requests and bad ones (too large,
not JSON, wrong types, lone surrogates); then the worst request the limits allow, alone.

Usage: python -m benchmarks.serving   (the test suite runs the same load on a tiny model)
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, machine, write_result

BAD_REQUESTS: list[tuple[bytes, str]] = [
    (b'{"inputs": ["' + b"a" * 300_000 + b'"]}', "application/json"),  # 413, never parsed
    (b'{"inputs": ', "application/json"),  # not JSON
    (b'{"inputs": [3]}', "application/json"),  # wrong type
    (b'{"inputs": ["\\ud800"]}', "application/json"),  # a lone surrogate
    (b"a,b\n1,2\n", "text/csv"),  # not JSON
    (json.dumps({"inputs": ["word " * 1000] * 5}).encode(), "application/json"),  # too many chars
]


def post(url: str, body: bytes, content_type: str, timeout: float = 60) -> tuple[int, bytes, float]:
    started = time.perf_counter()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, reply = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, reply = error.code, error.read()
    return status, reply, time.perf_counter() - started


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def load_test(url: str, good: list[str], expected: dict[str, Any], requests: int = 500,
              in_flight: int = 16, bad_share: float = 0.3, seed: int = 0) -> dict[str, Any]:  # fmt: skip
    """Send `requests` (a `bad_share` of them bad) with `in_flight` at once; every good request
    must come back 200 with `expected[text]`, every bad one 4xx with a short JSON error."""
    rng = random.Random(seed)
    plan = []
    for _ in range(requests):
        if rng.random() < bad_share:
            plan.append(("bad", *rng.choice(BAD_REQUESTS), None))
        else:
            text = rng.choice(good)
            plan.append(("good", json.dumps({"inputs": [text]}).encode(), "application/json", text))

    def send(item):
        kind, body, content_type, text = item
        status, reply, seconds = post(url, body, content_type)
        return kind, text, status, reply, seconds

    started = time.perf_counter()
    with ThreadPoolExecutor(in_flight) as pool:
        results = list(pool.map(send, plan))
    wall = time.perf_counter() - started
    wrong = [(k, s, r[:200]) for k, text, s, r, _ in results
             if (k == "good" and (s != 200 or json.loads(r)["predictions"] != [expected[text]]))
             or (k == "bad" and not (400 <= s < 500 and len(r) < 1000))]  # fmt: skip
    good_seconds = [sec for k, _, _, _, sec in results if k == "good"]
    return {
        "requests": requests,
        "in_flight": in_flight,
        "good": len(good_seconds),
        "bad": requests - len(good_seconds),
        "wrong": wrong[:5],
        "wrong_count": len(wrong),
        "statuses": dict(sorted(Counter(str(s) for *_, s, _, _ in results).items())),
        "good_p50_ms": round(1000 * percentile(good_seconds, 0.50), 1),
        "good_p95_ms": round(1000 * percentile(good_seconds, 0.95), 1),
        "good_p99_ms": round(1000 * percentile(good_seconds, 0.99), 1),
        "requests_per_second": round(requests / wall, 1),
    }


def start_server(task: str, port: int, cwd: Path, env: dict[str, str]) -> subprocess.Popen:
    """`tmlops serve <task>` in `cwd`, once it answers /ping. Its log goes to a file: a pipe
    nobody reads would fill up and stall the server."""
    log = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the server)
    server = subprocess.Popen([sys.executable, "-m", "transformer_mlops.cli", "serve", task,
                               "--port", str(port)], cwd=cwd, env=env, stdout=log, stderr=log,
                              start_new_session=True)  # fmt: skip
    deadline = time.time() + 120
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2):
                return server
        except OSError:
            if server.poll() is not None or time.time() > deadline:
                server.kill()
                log.seek(0)
                message = log.read().decode()[-2000:]
                raise RuntimeError(f"server did not start: {message}") from None
            time.sleep(0.5)


def run() -> dict[str, Any]:
    from transformer_mlops.tracking.serving import MAX_CHARS

    port = 5391
    server = start_server("ner", port, ROOT, dict(os.environ))
    url = f"http://127.0.0.1:{port}/invocations"
    try:
        good = ["Angela Merkel met Tim Cook in Paris.", "Siemens opened an office in Munich.",
                "John Smith flew to New York with Air France on Monday."]  # fmt: skip
        expected = {t: json.loads(post(url, json.dumps({"inputs": [t]}).encode(),
                                       "application/json")[1])["predictions"][0] for t in good}  # fmt: skip
        load = load_test(url, good, expected)
        sentence = "Angela Merkel met Tim Cook in Paris. "
        worst_text = (sentence * (MAX_CHARS // len(sentence) + 1))[:MAX_CHARS]
        worst_body = json.dumps({"inputs": [worst_text]}).encode()
        alone = [post(url, worst_body, "application/json")[2] for _ in range(20)]
    finally:
        server.terminate()
        server.wait(timeout=30)
    return {"machine": machine(), "model": "models:/ner@champion", "load": load,
            "serving_load_good_p50_ms": load["good_p50_ms"],
            "serving_load_good_p95_ms": load["good_p95_ms"],
            "worst_request_chars": MAX_CHARS,
            "serving_worst_request_p50_ms": round(1000 * percentile(alone, 0.5), 1),
            "serving_worst_request_p99_ms": round(1000 * percentile(alone, 0.99), 1)}  # fmt: skip


if __name__ == "__main__":
    outcome = run()
    write_result("serving", outcome)
    print({k: v for k, v in outcome.items() if k != "machine"})
