"""A stage's outputs survive its failure: they are kept aside while it runs, put back if it fails.

DVC removes a stage's outputs before it runs the command unless they are declared
`persist: true` (every output in dvc.yaml is). So the outputs are still there when a stage
script starts; `kept_on_failure` hard-links them aside (no copy, no disk space: every write of
this project replaces files by rename, so the links keep the old bytes), runs the stage, and
then either drops the links (success) or puts them back, removing whatever the failed run
wrote (failure). After a failure `dvc status` shows the edit that caused it and nothing else,
and once it is reverted `dvc repro` recomputes nothing. A run killed outright (`kill -9`)
leaves the links; the next run of the stage puts them back first.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import yaml

log = logging.getLogger("transformer_mlops")

SECTIONS = ("outs", "metrics", "plots")


def stage_outputs(stage: str, dvc_yaml: str | Path = "dvc.yaml") -> list[Path]:
    """The output paths dvc.yaml declares for `stage` (`name` or `name@item` of a foreach);
    none outside a DVC project or for an item the foreach does not list (the stage script
    refuses it). A stage name dvc.yaml lacks is a bug of the calling script: ValueError."""
    path = Path(dvc_yaml)
    if not path.is_file():
        return []
    stages = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("stages", {})
    name, _, item = stage.partition("@")
    definition = stages.get(name)
    if definition is None:
        raise ValueError(f"{path} has no stage {name!r}")
    if "foreach" in definition and item not in definition["foreach"]:
        return []
    body = definition.get("do", definition)
    paths = []
    for section in SECTIONS:
        for entry in body.get(section) or []:
            declared = next(iter(entry)) if isinstance(entry, dict) else entry
            paths.append(Path(str(declared).replace("${item}", item)))
    return paths


def kept_path(path: Path) -> Path:
    """Where the previous version of an output waits while its stage runs."""
    return path.with_name(f".{path.name}.kept")


def _partial(path: Path) -> Path:
    """A `.kept` being built or being dropped: never put back (it may be incomplete)."""
    return path.with_name(f".{path.name}.kept.partial")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif os.path.lexists(path):
        path.unlink()


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target, follow_symlinks=False)
    except OSError:  # a file system without hard links
        shutil.copy2(source, target, follow_symlinks=False)


def _keep(path: Path) -> None:
    """Link `path` aside: built under a partial name, renamed once complete."""
    partial = _partial(path)
    _remove(partial)
    if path.is_dir() and not path.is_symlink():
        shutil.copytree(path, partial, symlinks=True, copy_function=_link_or_copy)
    else:
        _link_or_copy(str(path), str(partial))
    os.replace(partial, kept_path(path))


def _drop(path: Path) -> None:
    """Remove the kept version: renamed away first, so a kill mid-way leaves nothing to put back."""
    kept = kept_path(path)
    if os.path.lexists(kept):
        os.replace(kept, _partial(path))
    _remove(_partial(path))


def _put_back(paths: list[Path], existed: set[Path]) -> None:
    """Each output as it was: the kept version back in place, or absent if it was absent."""
    for path in paths:
        kept = kept_path(path)
        if path in existed and os.path.lexists(kept):
            _remove(path)
            os.replace(kept, path)
        elif path not in existed:
            _remove(path)
        _remove(_partial(path))


@contextlib.contextmanager
def kept_on_failure(paths: list[Path]) -> Iterator[None]:
    """Run a block; if it raises (or is interrupted), every path is put back as it was."""
    stale = [p for p in paths if os.path.lexists(kept_path(p))]
    if stale:  # a run of this stage was killed: what it started from goes back first
        _put_back(stale, set(stale))
        log.warning("put back the outputs of an interrupted run: %s",
                    ", ".join(p.as_posix() for p in stale))  # fmt: skip
    for path in paths:
        _remove(_partial(path))
    existed = {p for p in paths if os.path.lexists(p)}
    try:
        for path in existed:
            _keep(path)
    except BaseException:
        for path in existed:
            _drop(path)
        raise
    try:
        yield
    except BaseException:
        _put_back(paths, existed)
        raise
    for path in existed:
        _drop(path)
