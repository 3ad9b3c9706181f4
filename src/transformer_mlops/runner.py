"""Entry-point plumbing shared by the stage scripts and the CLI: logging and user errors."""

from __future__ import annotations

import logging
import sys
import warnings
from collections.abc import Callable
from typing import Any

from transformer_mlops.errors import UserError

log = logging.getLogger("transformer_mlops")


def setup_logging(level: int = logging.INFO) -> None:
    """One readable log format for every stage."""
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    # Lightning prints through its own handler; propagating too would print every line twice.
    logging.getLogger("lightning.pytorch").propagate = False
    # Noise from library internals that a user can do nothing about.
    warnings.filterwarnings("ignore", message=".*isinstance\\(treespec, LeafSpec\\)")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")


def run_user_command(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run `function`; a UserError becomes one clear message and exit status 2, no traceback."""
    try:
        return function(*args, **kwargs)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
