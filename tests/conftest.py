"""Shared fixtures: the repo root, the shared real datasets (skip when absent), small params."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATASETS = ROOT.parent / "shared" / "datasets"


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    """The real public datasets beside the project; tests using them skip when absent."""
    if not SHARED_DATASETS.is_dir():
        pytest.skip(f"shared datasets not found at {SHARED_DATASETS}")
    return SHARED_DATASETS


@pytest.fixture(scope="session")
def default_params_raw() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


@pytest.fixture
def small_params_raw(default_params_raw) -> dict:
    """params.yaml shrunk to CI size: a few hundred synthetic examples per task."""
    raw = copy.deepcopy(default_params_raw)
    for task in ("seq2seq", "ner", "qa"):
        raw[task]["data"]["synthetic"] = {"train": 200, "validation": 40, "test": 40}
        raw[task]["data"]["bounds"] = {"min_rows": 10, "max_rows": 100000}
    return raw
