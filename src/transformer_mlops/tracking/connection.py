"""Where the tracking store is and how to reach it: the URI, its credentials, failing fast.

- `MLFLOW_TRACKING_URI` is respected; the default is the embedded SQLite store `mlflow.db` in
  the working directory.
- Credentials: MLflow's own variables (`MLFLOW_TRACKING_USERNAME` / `MLFLOW_TRACKING_PASSWORD`,
  `MLFLOW_TRACKING_TOKEN`) or `user:password@` in an http(s) URI. The latter are moved into
  MLflow's variables and out of the URI, so no MLflow or requests message can carry them.
- Failing fast: MLflow's client retries a request for about four minutes by default. Every
  command that talks to a server first asks it one real API question (`ensure_reachable`) with
  the same credentials MLflow will use, no retries and a 5 s timeout, and later requests use
  short retry settings (a user's own settings win).
"""

from __future__ import annotations

import os
from urllib.parse import unquote, urlsplit, urlunsplit

from transformer_mlops.errors import UserError
from transformer_mlops.secrets import redact

DEFAULT_URI = "sqlite:///mlflow.db"
CHECK_TIMEOUT_SECONDS = 5
# MLflow's defaults are 7 retries, backoff factor 2 and a 120 s timeout per request.
HTTP_SETTINGS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.5",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
}


class TrackingError(UserError):
    """The tracking server cannot be used (unreachable, refusing, failing)."""


def tracking_uri() -> str:
    """`MLFLOW_TRACKING_URI` (credentials moved to MLflow's variables), or the embedded store.
    Also sets the short HTTP retry settings where the user set none."""
    uri = os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_URI
    for name, value in HTTP_SETTINGS.items():
        os.environ.setdefault(name, value)
    parts = urlsplit(uri)
    if parts.scheme in ("http", "https") and parts.username is not None:
        os.environ["MLFLOW_TRACKING_USERNAME"] = unquote(parts.username)
        if parts.password is not None:
            os.environ["MLFLOW_TRACKING_PASSWORD"] = unquote(parts.password)
        netloc = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
        uri = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
        os.environ["MLFLOW_TRACKING_URI"] = uri  # what Lightning's logger and subprocesses read
    return uri


def connect() -> str:
    """Point this process's MLflow at the tracking store, checked first (`ensure_reachable`);
    returns the URI (without credentials)."""
    import mlflow

    uri = tracking_uri()
    ensure_reachable(uri)
    mlflow.set_tracking_uri(uri)
    return uri


def _problem(error: BaseException) -> str:
    """What went wrong with a request, in a few words (MLflow wraps requests' errors in text)."""
    text = str(error)
    causes = {
        "Connection refused": "connection refused",
        "timed out": f"no answer within {CHECK_TIMEOUT_SECONDS} s",
        "Name or service not known": "unknown host",
        "nodename nor servname": "unknown host",
        "Temporary failure in name resolution": "unknown host",
        "CERTIFICATE_VERIFY_FAILED": "its TLS certificate is not trusted (MLFLOW_TRACKING_SERVER_CERT_PATH)",
        "Connection reset": "connection reset",
        "RemoteDisconnected": "it closed the connection",
    }  # fmt: skip
    for needle, problem in causes.items():
        if needle in text:
            return problem
    return redact(text.splitlines()[0] if text else type(error).__name__)[:200]


def _status_problem(status: int) -> str | None:
    if status == 200:
        return None
    if status == 401:
        return ("it refused the credentials (HTTP 401): set MLFLOW_TRACKING_USERNAME and "
                "MLFLOW_TRACKING_PASSWORD, or user:password@ in the URI")  # fmt: skip
    if status == 403:
        return "permission denied for this user (HTTP 403)"
    if status == 404:
        return "no MLflow REST API there (HTTP 404); check the URI's host, port and path"
    return f"it answers HTTP {status}"


def ensure_reachable(uri: str | None = None) -> None:
    """Ask an http(s) tracking server one real API question (search one experiment), with the
    credentials MLflow will use; TrackingError in at most ~5 s when it cannot be used."""
    uri = uri or tracking_uri()
    if not uri.startswith(("http://", "https://")):
        return
    from mlflow.utils.credentials import get_default_host_creds
    from mlflow.utils.rest_utils import http_request

    advice = (" Check that the server runs (`mlflow server --host 127.0.0.1 --port 5000`) and "
              "MLFLOW_TRACKING_URI, or unset MLFLOW_TRACKING_URI to use the embedded store "
              "sqlite:///mlflow.db")  # fmt: skip
    try:
        response = http_request(get_default_host_creds(uri), "/api/2.0/mlflow/experiments/search",
                                "POST", max_retries=0, timeout=CHECK_TIMEOUT_SECONDS,
                                raise_on_status=False, json={"max_results": 1})  # fmt: skip
        problem = _status_problem(response.status_code)
        if response.status_code in (401, 403):  # it runs: the credentials are what to fix
            advice = ""
    except Exception as error:  # requests/urllib3 errors arrive wrapped in MlflowException
        problem = _problem(error)
    if problem is not None:
        raise TrackingError(f"MLflow tracking server {redact(uri)}: {problem}.{advice}")
