"""User-facing errors: raised for bad input, printed without a traceback."""

from __future__ import annotations


class UserError(Exception):
    """Something the user can fix (a param, a data file, a request); the message says what."""


class DataError(UserError):
    """Input data is malformed; the message names the file, line/row or field."""


class ConfigError(UserError):
    """params.yaml (or an override) has a bad value; the message names the key."""


class ValidationFailed(UserError):
    """A Great Expectations suite failed; the message is the readable report."""
