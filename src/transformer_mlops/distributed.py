"""Which process of a distributed (DDP) job this is, read before Lightning starts."""

from __future__ import annotations

import os


def is_global_zero() -> bool:
    """True in the process that owns MLflow and the reports: rank 0 of a DDP job (read from the
    launcher's environment), or a plain single process."""
    if "RANK" in os.environ:
        return os.environ["RANK"] == "0"
    return os.environ.get("NODE_RANK", "0") == "0" and os.environ.get("LOCAL_RANK", "0") == "0"
