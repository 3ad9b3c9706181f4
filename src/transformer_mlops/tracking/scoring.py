"""`tmlops serve`: MLflow's scoring app (POST /invocations, {"inputs": [...]}) behind limits.

`mlflow models serve` reads any body in full, runs as many predictions at once as requests
arrive, and replies to a failed prediction with the input echoed and a Python stack trace.
`BoundedScoring` wraps the same app (same protocol, same model) as an ASGI middleware:
- bodies over `MAX_BODY_BYTES` get 413 before anything is parsed (Content-Length, then a count
  of what arrives); only JSON is accepted (415);
- one prediction at a time (the model uses every core), at most `MAX_WAITING` waiting (503),
  and `TIMEOUT_SECONDS` per request, waiting included (504);
- error replies are `{"error_code", "message"}`, short, with no input, stack trace or path;
  the full error is logged on the server.
The per-model limits (characters, positions, windows) are the models' own (`serving`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 256 * 1024  # 20,000 characters even as \uXXXX escapes, with room for the JSON
MAX_WAITING = 32
TIMEOUT_SECONDS = 30.0
MAX_MESSAGE_CHARS = 300
_JSON_POSITION = re.compile(r"line \d+ column \d+")
_TYPE_HINT = re.compile(r"against type hint `([^`]{1,80})`")
_ECHO = re.compile(r"^Failed to predict data .*\nError: ", re.DOTALL)  # MLflow quotes the input


def _reply(status: int, code: str, message: str) -> tuple[int, bytes]:
    return status, json.dumps({"error_code": code, "message": message}).encode()


def sanitized_error(status: int, body: bytes) -> bytes:
    """A short error reply from MLflow's: its message without the echoed input, no stack trace."""
    try:
        parsed = json.loads(body)
        message = str(parsed.get("message", "")) if isinstance(parsed, dict) else ""
        code = str(parsed.get("error_code", "BAD_REQUEST")) if isinstance(parsed, dict) else ""
    except (ValueError, UnicodeDecodeError):
        message, code = body.decode("utf-8", "replace"), ""
    message = _ECHO.sub("", message).strip()
    json_error = _JSON_POSITION.search(message)
    type_hint = _TYPE_HINT.search(message)
    if status >= 500 or message.startswith("Encountered an unexpected error"):
        message = "the model failed on this request; the server log has the details"
    elif "JSONDecodeError" in message or message.startswith("Failed to parse input"):
        message = "the body is not valid JSON" + (f" ({json_error.group(0)})" if json_error else "")
    elif type_hint:  # MLflow lists the offending elements: say what is expected instead
        example = ('["some text"]' if type_hint.group(1) == "list[str]"
                   else '[{"question": "...", "context": "..."}]')  # fmt: skip
        message = f'"inputs" must be {type_hint.group(1)}, e.g. {{"inputs": {example}}}'
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[:MAX_MESSAGE_CHARS] + "..."
    return json.dumps({"error_code": code or "BAD_REQUEST", "message": message}).encode()


class BoundedScoring:
    """ASGI middleware around MLflow's scoring app: body limit, one prediction at a time with a
    bounded queue and a timeout, and error replies without echoes or stack traces."""

    def __init__(self, app: Any, max_body_bytes: int = MAX_BODY_BYTES,
                 timeout: float = TIMEOUT_SECONDS, max_waiting: int = MAX_WAITING) -> None:  # fmt: skip
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.timeout = timeout
        self.max_waiting = max_waiting
        self.waiting = 0
        self.busy: asyncio.Semaphore | None = None  # created in the server's event loop

    async def __call__(self, scope: dict, receive, send) -> None:
        if scope["type"] != "http" or scope["path"] != "/invocations":
            await self.app(scope, receive, send)
            return
        refusal = self._refuse_headers(scope)
        if refusal is None and self.waiting >= self.max_waiting:
            refusal = _reply(503, "TEMPORARILY_UNAVAILABLE", "the server is busy; retry shortly")
        if refusal is not None:
            await self._send(send, *refusal)
            return
        try:
            body = await self._read_body(receive)
        except ConnectionAbortedError:  # the client left while sending: nobody to answer
            return
        if body is None:
            await self._send(send, *_reply(413, "REQUEST_TOO_LARGE",
                                           f"body over {self.max_body_bytes} bytes"))  # fmt: skip
            return
        await self._predict(scope, body, send)

    def _refuse_headers(self, scope: dict) -> tuple[int, bytes] | None:
        headers = dict(scope.get("headers", []))
        length = headers.get(b"content-length", b"0")
        if not length.isdigit() or int(length) > self.max_body_bytes:
            return _reply(413, "REQUEST_TOO_LARGE", f"body over {self.max_body_bytes} bytes")
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if content_type != b"application/json":
            return _reply(415, "UNSUPPORTED_MEDIA_TYPE",
                          'send Content-Type: application/json, e.g. {"inputs": ["text"]}')  # fmt: skip
        return None

    async def _read_body(self, receive) -> bytes | None:
        """The whole body, or None as soon as it passes the limit (chunked uploads too)."""
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ConnectionAbortedError
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return None
            chunks.append(chunk)
            more = message.get("more_body", False)
        return b"".join(chunks)

    async def _predict(self, scope: dict, body: bytes, send) -> None:
        if self.busy is None:
            self.busy = asyncio.Semaphore(1)
        replayed = False

        async def receive() -> dict:
            nonlocal replayed
            if replayed:  # the app asks again only to see whether the client left
                await asyncio.Event().wait()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        started: dict[str, Any] = {}
        parts: list[bytes] = []

        async def capture(message: dict) -> None:
            if message["type"] == "http.response.start":
                started.update(message)
            else:
                parts.append(message.get("body", b""))

        self.waiting += 1
        queued = True
        try:
            async with asyncio.timeout(self.timeout), self.busy:
                self.waiting, queued = self.waiting - 1, False
                await self.app(scope, receive, capture)
        except TimeoutError:  # waiting included; a prediction already running finishes unseen
            await self._send(send, *_reply(504, "REQUEST_TIMEOUT",
                                           f"no answer within {self.timeout:g} s; retry later "
                                           "or send fewer inputs"))  # fmt: skip
            return
        finally:
            self.waiting -= queued
        status = started.get("status", 500)
        reply = b"".join(parts)
        if status >= 400:
            log.warning("HTTP %d: %s", status, reply[:4000].decode("utf-8", "replace"))
            reply = sanitized_error(status, reply)
        await self._send(send, status, reply)

    @staticmethod
    async def _send(send, status: int, body: bytes) -> None:
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})  # fmt: skip
        await send({"type": "http.response.body", "body": body})


def serve(uri: str, host: str, port: int) -> None:
    """Load the registered model `uri` (checked, `verified`), then serve it until stopped."""
    import uvicorn
    from mlflow.pyfunc.scoring_server import init

    from transformer_mlops.tracking.serving import MAX_CHARS, MAX_ITEMS
    from transformer_mlops.tracking.verified import load_registered

    model = load_registered(uri)
    app = BoundedScoring(init(model))
    log.info("serving %s on http://%s:%d/invocations: POST {\"inputs\": [...]} as JSON, at most "
             "%d bytes, %d inputs and %d characters per request, %g s each", uri, host, port,
             MAX_BODY_BYTES, MAX_ITEMS, MAX_CHARS, TIMEOUT_SECONDS)  # fmt: skip
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
