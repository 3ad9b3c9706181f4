"""Entry-point plumbing shared by the stage scripts and the CLI: logging and user errors."""

from __future__ import annotations

import errno
import logging
import os
import sys
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from transformer_mlops.distributed import is_global_zero
from transformer_mlops.errors import UserError
from transformer_mlops.outputs import kept_on_failure, stage_outputs
from transformer_mlops.secrets import redact, redact_logs

log = logging.getLogger("transformer_mlops")


def setup_logging(level: int = logging.INFO) -> None:
    """One readable log format for every stage; no credentials in any log line."""
    redact_logs()
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    # Lightning prints through its own handler; propagating too would print every line twice.
    logging.getLogger("lightning.pytorch").propagate = False
    # Noise from library internals that a user can do nothing about: advertising, the state
    # of our own checkpoint folder (resume records live there), transformers' colour-coded load
    # table (pretrained.py logs the new task head in one line instead), MLflow's registry prints.
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logging.getLogger(name).addFilter(_drop_tips)  # where Lightning's tips are logged
    logging.getLogger("transformers.modeling_utils").addFilter(_drop_load_report)
    # MLflow saying what our own log lines say better ("registry ner: version 6, promoted ...")
    for name in ("mlflow.models.signature", "mlflow.tracking._model_registry.fluent"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*isinstance\\(treespec, LeafSpec\\)")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message="Checkpoint directory .* exists and is not empty")


def _drop_tips(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith("💡 Tip")


def _drop_load_report(record: logging.LogRecord) -> bool:
    return "LOAD REPORT" not in str(record.msg)


# Failures of the file system a user fixes (space, permissions, a file where a folder belongs).
FILE_SYSTEM_ERRORS = {
    errno.ENOSPC: "cannot write: the disk is full; free some space (`df -h .`) and run again",
    errno.EDQUOT: "cannot write: the disk quota is exceeded; free some space and run again",
    errno.EFBIG: "cannot write: the file is larger than this process may write (`ulimit -f`)",
    errno.EACCES: "permission denied; check its permissions and its folder's (`ls -ld`)",
    errno.EPERM: "operation not permitted; check its permissions and its folder's (`ls -ld`)",
    errno.EROFS: "cannot write: the file system is read-only",
    errno.ENOTDIR: "a file stands where a folder is needed; move it away",
    errno.EISDIR: "a folder stands where a file is needed; move it away",
}


def file_system_message(error: OSError) -> str | None:
    """One line for a file-system failure a user can fix, naming the path; None for others."""
    advice = FILE_SYSTEM_ERRORS.get(error.errno or 0)
    if advice is None:
        return None
    target = error.filename2 or error.filename  # a rename or link names its target second
    if not target:
        return advice
    target = Path(str(target))
    if target.name.startswith(".") and ".kept" in target.name:  # outputs.py's link: the output
        target = target.with_name(target.name[1:].split(".kept")[0])
    if target.is_absolute() and target.is_relative_to(Path.cwd()):
        target = Path(os.path.relpath(target))
    return f"{target}: {advice}"


def run_user_command(function: Callable[..., Any], *args: Any, after_failure: str = "",
                     **kwargs: Any) -> Any:  # fmt: skip
    """Run `function`; a UserError (or a file-system failure the user can fix) becomes one
    clear message and exit status 2, no traceback. `after_failure` is added to the message.
    Anything else is a bug: its traceback is printed (redacted) with exit status 1."""
    try:
        return function(*args, **kwargs)
    except UserError as error:
        message = str(error)
    except BrokenPipeError:  # the reader went away (`tmlops recipes | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        raise SystemExit(141) from None  # 128 + SIGPIPE, as a shell reports it
    except OSError as error:
        message = file_system_message(error)
        if message is None:
            _print_bug()
    except KeyboardInterrupt:
        print(f"interrupted{after_failure}", file=sys.stderr)
        raise SystemExit(130) from None
    except Exception:
        _print_bug()
    print(redact(f"error: {message}{after_failure}"), file=sys.stderr)
    raise SystemExit(2) from None


def _print_bug() -> None:
    """An unexpected error: its traceback, with any credential it carries redacted; exit 1."""
    print(redact(traceback.format_exc()).rstrip(), file=sys.stderr)
    raise SystemExit(1) from None


def run_stage(stage: str, function: Callable[..., Any], *args: Any) -> Any:
    """The entry of a DVC stage script: `run_user_command`, with the stage's outputs (from
    dvc.yaml) put back as they were when it fails (outputs.kept_on_failure; rank 0 only)."""
    outputs = stage_outputs(stage) if is_global_zero() else []

    def guarded() -> Any:
        with kept_on_failure(outputs):
            return function(*args)

    kept = f"\n{stage}: its previous outputs are unchanged." if outputs else ""
    try:
        return run_user_command(guarded, after_failure=kept)
    except SystemExit as stop:
        if stop.code in (None, 0):  # Lightning turns SIGTERM into a bare SystemExit: no success,
            print(f"stopped by a signal{kept}", file=sys.stderr)  # or DVC would record the stage
            raise SystemExit(143) from None
        if stop.code not in (2, 130):  # Lightning ends a Ctrl-C in fit with exit(1)
            print(f"stopped (exit status {stop.code}){kept}", file=sys.stderr)
        raise
