"""BoundedScoring, the ASGI middleware of `tmlops serve`, around a small ASGI app standing in for
MLflow's scoring app (the real one is served in tests/integration/test_serving.py)."""

from __future__ import annotations

import asyncio
import json

from transformer_mlops.tracking.scoring import BoundedScoring, sanitized_error


def slow_app(seconds: float):
    async def app(scope, receive, send) -> None:
        await receive()
        await asyncio.sleep(seconds)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b'{"predictions": [1]}'})

    return app


async def call(app, body: bytes = b'{"inputs": ["x"]}', content_type: bytes = b"application/json"):
    scope = {"type": "http", "path": "/invocations", "method": "POST",
             "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]}  # fmt: skip
    sent = iter([{"type": "http.request", "body": body, "more_body": False}])
    replies = []

    async def receive():
        return next(sent)

    async def send(message):
        replies.append(message)

    await app(scope, receive, send)
    return replies[0]["status"], json.loads(replies[1]["body"])


def test_a_request_over_the_time_limit_gets_504_and_waiting_requests_count():
    async def scenario():
        bounded = BoundedScoring(slow_app(0.3), timeout=0.5)
        return await asyncio.gather(*(call(bounded) for _ in range(3)))

    statuses = sorted(status for status, _ in asyncio.run(scenario()))
    assert statuses == [200, 504, 504]  # one at a time: the third waits 0.6 s, the second 0.3+0.3


def test_a_full_queue_gets_503_at_once():
    async def scenario():
        bounded = BoundedScoring(slow_app(0.2), timeout=5, max_waiting=1)
        return await asyncio.gather(*(call(bounded) for _ in range(3)))

    statuses = sorted(status for status, _ in asyncio.run(scenario()))
    assert statuses == [200, 200, 503]


def test_mlflow_error_replies_lose_the_echo_and_the_stack_trace():
    echoed = json.dumps({"error_code": "INVALID_PARAMETER_VALUE", "stack_trace": "Traceback ...",
                         "message": "Failed to predict data '['secret input']'. \nError: too long"})  # fmt: skip
    assert json.loads(sanitized_error(400, echoed.encode())) == {
        "error_code": "INVALID_PARAMETER_VALUE", "message": "too long"}  # fmt: skip
    crashed = json.dumps({"error_code": "BAD_REQUEST", "message": "Encountered an unexpected "
                          "error while evaluating the model.", "stack_trace": "File /srv/x.py"})  # fmt: skip
    reply = json.loads(sanitized_error(400, crashed.encode()))
    assert reply["message"] == "the model failed on this request; the server log has the details"
