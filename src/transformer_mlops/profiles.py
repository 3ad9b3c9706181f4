"""Params profiles and the CI metrics check.

A profile is a partial params file (e.g. .ci/params-ci.yaml, the small CI profile) merged over
params.yaml, so `dvc repro` then runs with it. CI compares the metrics it reproduces with the
ones committed for that profile (.ci/expected-metrics/), within a stated tolerance.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import yaml

from transformer_mlops.config import parse_params
from transformer_mlops.errors import ConfigError, UserError
from transformer_mlops.io import atomic_write_text

METRIC_FILES = ("scratch", "ner", "qa")


def merge(base: dict[str, Any], overlay: dict[str, Any], where: str = "") -> dict[str, Any]:
    """`overlay` over `base`, key by key; a key the base does not have is an error (a typo in a
    profile must not silently do nothing)."""
    merged = dict(base)
    for key, value in overlay.items():
        name = f"{where}{key}"
        if key not in base:
            raise ConfigError(f"{name}: not a params key (check the spelling against params.yaml)")
        if isinstance(value, dict) and isinstance(base[key], dict):
            merged[key] = merge(base[key], value, f"{name}.")
        else:
            merged[key] = value
    return merged


def apply_profile(profile: str | Path, params: str | Path = "params.yaml") -> dict[str, Any]:
    """Merge a profile into params.yaml (validated, written atomically); returns the result."""
    profile, params = Path(profile), Path(params)
    for path in (profile, params):
        if not path.is_file():
            raise UserError(f"{path}: file not found")
    overlay = yaml.safe_load(profile.read_text()) or {}
    if not isinstance(overlay, dict):
        raise ConfigError(f"{profile}: expected a mapping of params keys")
    merged = merge(yaml.safe_load(params.read_text()), overlay)
    parse_params(merged)  # the merged params must still be valid
    atomic_write_text(params, f"# {params} with the profile {profile} applied\n"
                              + yaml.safe_dump(merged, sort_keys=False))  # fmt: skip
    return merged


def _numbers(tree: Any, prefix: str = "") -> dict[str, float]:
    if isinstance(tree, dict):
        out: dict[str, float] = {}
        for key, value in tree.items():
            out.update(_numbers(value, f"{prefix}{key}."))
        return out
    if isinstance(tree, int | float) and not isinstance(tree, bool):
        return {prefix[:-1]: float(tree)}
    return {}


def check_metrics(expected_dir: str | Path, actual_dir: str | Path = "reports/metrics",
                  tolerance: float = 0.0) -> tuple[bool, list[dict[str, Any]]]:  # fmt: skip
    """Compare every number of the expected metrics files with the reproduced ones.

    A value passes when |actual - expected| <= tolerance * max(1, |expected|): 0 means exact
    (same machine type), 0.02 allows 2% (another CPU's kernels, thread counts).
    Returns (all passed, rows of file, metric, expected, actual, difference, ok).
    """
    rows = []
    for task in METRIC_FILES:
        expected_path = Path(expected_dir) / f"{task}.json"
        actual_path = Path(actual_dir) / f"{task}.json"
        if not expected_path.is_file():
            raise UserError(f"{expected_path}: no committed metrics to compare with")
        expected = _numbers(json.loads(expected_path.read_text()))
        actual = _numbers(json.loads(actual_path.read_text())) if actual_path.is_file() else {}
        for metric, value in expected.items():
            got = actual.get(metric, math.nan)
            difference = got - value
            ok = not math.isnan(got) and abs(difference) <= tolerance * max(1.0, abs(value))
            rows.append({"file": f"{task}.json", "metric": metric, "expected": value, "actual": got,
                         "difference": difference, "ok": ok})  # fmt: skip
    return all(row["ok"] for row in rows), rows


def markdown_table(rows: list[dict[str, Any]], tolerance: float) -> str:
    """The comparison as a Markdown table (for the GitHub Actions job summary)."""
    lines = [f"### Reproduced metrics vs committed (tolerance {tolerance:g} relative)", "",
             "| file | metric | committed | reproduced | difference | |", "|---|---|---:|---:|---:|---|"]  # fmt: skip
    for row in rows:
        mark = "ok" if row["ok"] else "**DRIFT**"
        lines.append(f"| {row['file']} | {row['metric']} | {row['expected']:.6g} | {row['actual']:.6g} "
                     f"| {row['difference']:+.3g} | {mark} |")  # fmt: skip
    return "\n".join(lines) + "\n"
