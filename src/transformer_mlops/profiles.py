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
from transformer_mlops.io import atomic_write_text, read_yaml_mapping
from transformer_mlops.recipes import check_files, split_recipe

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


def parse_set(assignment: str) -> dict[str, Any]:
    """`ner.train.seed=1` -> {"ner": {"train": {"seed": 1}}}; the value is read as YAML, as
    `dvc exp run -S` does (numbers, booleans, null, lists)."""
    key, sep, value = assignment.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {assignment}: expected KEY=VALUE, e.g. ner.train.seed=1")
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError:
        parsed = value
    tree: dict[str, Any] = {}
    node = tree
    *parents, leaf = key.strip().split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = parsed
    return tree


def apply_profile(profile: str | Path, params: str | Path = "params.yaml",
                  sets: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:  # fmt: skip
    """Merge a profile, then any `KEY=VALUE` sets, into params.yaml (validated, written
    atomically); returns the result. A recipe's `recipe:` block is not params: it is checked,
    and the data files the recipe reads must exist (recipes.py)."""
    profile, params = Path(profile), Path(params)
    for path in (profile, params):
        if not path.is_file():
            raise UserError(f"{path}: file not found")
    overlay = read_yaml_mapping(profile, "a mapping of params keys")
    about, overlay = split_recipe(overlay, profile)
    merged = merge(read_yaml_mapping(params, "a mapping of the task sections"), overlay)
    for assignment in sets:
        merged = merge(merged, parse_set(assignment))
    parse_params(merged)  # the merged params must still be valid
    if about is not None:
        check_files(merged, about, profile, params.resolve().parent)
    applied = " ".join([str(profile), *(f"--set {s}" for s in sets)])
    atomic_write_text(params, f"# {params} with the profile {applied} applied\n"
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
