"""Atomic file and directory writes: a crash or a failed check never leaves a half-written output."""

from __future__ import annotations

import contextlib
import errno
import glob
import json
import os
import re
import resource
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from transformer_mlops.errors import ConfigError


def _umask() -> int:
    """The process umask (reading it means setting it: put it straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def default_mode(directory: bool = False) -> int:
    """The mode `open`/`mkdir` would give under the process umask (mkstemp/mkdtemp give
    0600/0700 whatever the umask: outputs must be as readable as any other file)."""
    return (0o777 if directory else 0o666) & ~_umask()


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write `text` to a temp file beside `path`, fsync it, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, default_mode())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def save_figure(fig, path: str | Path) -> None:
    """Save a matplotlib figure as PNG atomically, without a version stamp (stable bytes)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp.png", dir=path.parent)
    os.close(fd)
    try:
        fig.savefig(
            tmp, format="png", dpi=150, metadata={"Software": None}
        )  # readable on a laptop screen
        os.chmod(tmp, default_mode())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def read_yaml_mapping(path: str | Path, expected: str) -> dict[str, Any]:
    """A YAML file's top-level mapping, or one ConfigError naming the file, the line where
    parsing failed and what was `expected` (e.g. "a mapping of params keys")."""
    import yaml

    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        problem = getattr(error, "problem", None)
        raise ConfigError(
            f"{path}{where}: not valid YAML" + (f" ({problem})" if problem else "")
        ) from None
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{path}: expected {expected} at the top level, found {type(raw).__name__}"
        )
    return raw


def data_files(pattern: str, root: str | Path | None = None) -> list[Path]:
    """The files a data path or glob names (`root` / pattern when a root is given), sorted;
    empty when none is there. One reading for the prepare stage and the recipe checks."""
    path = str(Path(root) / pattern) if root is not None else pattern
    matches = sorted(glob.glob(path)) if glob.has_magic(pattern) else [path]
    return [Path(m) for m in matches if Path(m).is_file()]


def dump_json(obj: Any) -> str:
    """Stable JSON text: sorted keys, 2-space indent, trailing newline (byte-reproducible)."""
    return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_json(path: str | Path, obj: Any) -> None:
    """Atomically write `obj` as stable JSON."""
    atomic_write_text(path, dump_json(obj))


def write_jsonl(path: str | Path, rows: Iterable[dict[str, Any]]) -> int:
    """Atomically write rows as JSON lines (keys sorted); returns the number of rows."""
    lines = [json.dumps(row, sort_keys=True, ensure_ascii=False) for row in rows]
    atomic_write_text(path, "".join(line + "\n" for line in lines))
    return len(lines)


def read_json_if_exists(path: str | Path) -> Any | None:
    """The JSON in `path`, or None when the file does not exist."""
    path = Path(path)
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Read JSON lines written by `write_jsonl`."""
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _os_error_code(error: Exception, path: Path) -> int | None:
    """The errno behind a library's write error: safetensors quotes it ("os error 28"); torch's
    zip writer only says "unexpected pos", so ask the file system what stopped it."""
    quoted = re.search(r"os error (\d+)", str(error))
    if quoted:
        return int(quoted.group(1))
    with contextlib.suppress(OSError):
        if os.statvfs(path if path.is_dir() else path.parent).f_bavail == 0:
            return errno.ENOSPC
    if resource.getrlimit(resource.RLIMIT_FSIZE)[0] != resource.RLIM_INFINITY:
        return errno.EFBIG
    return None


@contextlib.contextmanager
def writing(path: str | Path) -> Iterator[None]:
    """Turn a library's failed write (torch.save, safetensors) back into the OSError it was,
    naming `path`, so the user reads "the disk is full", not a serializer's internals."""
    try:
        yield
    except OSError:
        raise
    except Exception as error:
        # torch raises RuntimeError, safetensors its SafetensorError; anything else is not a write
        serializer = isinstance(error, RuntimeError) or type(error).__name__ == "SafetensorError"
        code = _os_error_code(error, Path(path)) if serializer else None
        if code is None:
            raise
        raise OSError(code, os.strerror(code), str(path)) from error


def staging_dir(path: str | Path) -> Path:
    """An empty temp directory beside `path` (same file system: it can be renamed into place)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    os.chmod(tmp, default_mode(directory=True))
    return tmp


def replace_dir(staged: str | Path, path: str | Path) -> None:
    """Put the complete directory `staged` in the place of `path` (two renames)."""
    path = Path(path)
    backup = path.with_name(f".{path.name}.old")
    shutil.rmtree(backup, ignore_errors=True)
    if path.exists():
        os.replace(path, backup)
    os.replace(staged, path)
    _fsync_dir(path.parent)
    shutil.rmtree(backup, ignore_errors=True)


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield an empty temp directory that replaces `path` only if the block succeeds.

    The old directory (if any) stays intact until the new one is complete; on error the
    temp directory is removed and `path` is untouched.
    """
    tmp = staging_dir(path)
    try:
        with writing(path):
            yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    replace_dir(tmp, path)
