"""Credentials never reach a screen, a log or a report: redaction of any text before it is shown.

Secrets arrive as `user:password@` in a URI (MLflow's, a database's) or in the environment
variables MLflow and object stores read. Library messages (MLflow's "API request to {url}
failed", requests' exceptions) may carry either, so the entry points redact every message and
every log record here, in one place, instead of trusting each library to leave them out.
"""

from __future__ import annotations

import logging
import os
import re
from urllib.parse import unquote, urlsplit

# Variables whose values are secrets (MLflow client auth, object stores it may upload to).
SECRET_VARIABLES = (
    "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_TRACKING_TOKEN",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AZURE_STORAGE_ACCESS_KEY",
    "AZURE_STORAGE_CONNECTION_STRING",
)
URI_VARIABLES = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
MIN_SECRET_LENGTH = (
    4  # shorter values would blank ordinary words; such passwords are refused anyway
)
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)[^/@\s'\"]+@")


def _secret_values() -> set[str]:
    values = {os.environ.get(name, "") for name in SECRET_VARIABLES}
    for name in URI_VARIABLES:  # a password still inside a URI variable
        try:
            password = urlsplit(os.environ.get(name, "")).password
        except ValueError:
            password = None
        if password:
            values |= {password, unquote(password)}
    return {value for value in values if len(value) >= MIN_SECRET_LENGTH}


def redact(text: str) -> str:
    """`text` with `scheme://user:password@` reduced to `scheme://***@` and the value of every
    secret variable replaced by `***`."""
    text = _USERINFO.sub(r"\g<scheme>***@", text)
    for value in sorted(_secret_values(), key=len, reverse=True):
        text = text.replace(value, "***")
    return text


def _redacting_factory(make_record):
    def factory(*args, **kwargs) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a malformed record: let logging report it as usual
            return record
        record.msg, record.args = redact(message), None
        return record

    factory.redacting = True
    return factory


def redact_logs() -> None:
    """Redact every log record of every logger (ours, MLflow's, Lightning's), once per process."""
    current = logging.getLogRecordFactory()
    if not getattr(current, "redacting", False):
        logging.setLogRecordFactory(_redacting_factory(current))
