"""Content hashes as DVC computes them, so MLflow lineage tags and resume fingerprints name the
same data as dvc.lock."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path


def md5_file(path: str | Path) -> str:
    """md5 of a file's bytes (DVC's content hash, not for security)."""
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_md5s(folder: str | Path) -> dict[str, str]:
    """md5 of every file under `folder`, by POSIX path relative to it."""
    folder = Path(folder)
    return {p.relative_to(folder).as_posix(): md5_file(p) for p in folder.rglob("*") if p.is_file()}


def listing_md5(md5s: dict[str, str]) -> str:
    """DVC's directory hash: md5 of the sorted JSON listing of (relpath, md5), plus '.dir'."""
    entries = [{"md5": md5, "relpath": rel} for rel, md5 in sorted(md5s.items())]
    return hashlib.md5(json.dumps(entries, sort_keys=True).encode()).hexdigest() + ".dir"


def dvc_md5(path: str | Path) -> str:
    """The hash DVC records in dvc.lock: md5 of a file, or `<md5>.dir` of a directory listing."""
    path = Path(path)
    return md5_file(path) if path.is_file() else listing_md5(file_md5s(path))
