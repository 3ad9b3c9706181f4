"""Shared fixtures: the repo root, the shared real datasets (skip when absent), and the one way
tests shrink params: the tiny profile (tests/params-tiny.yaml), which tests then adjust per
scenario."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATASETS = ROOT.parent / "shared" / "datasets"
TINY_PROFILE = ROOT / "tests" / "params-tiny.yaml"


def tiny_profile(raw: dict) -> None:
    """Shrink a params mapping in place with the tiny profile: every task tiny, fp32."""
    from transformer_mlops.profiles import merge

    merged = merge(copy.deepcopy(raw), yaml.safe_load(TINY_PROFILE.read_text()))
    raw.clear()
    raw.update(merged)


def tiny_params(raw: dict) -> dict:
    """A tiny-profile copy of a params mapping (the original is left as it is)."""
    shrunk = copy.deepcopy(raw)
    tiny_profile(shrunk)
    return shrunk


def write_synthetic(task: str, prepared_dir: Path, train: int, validation: int, test: int) -> None:
    """Synthetic splits of `task` (seed 0) as prepared JSON lines, like the prepare stage."""
    from transformer_mlops.config import SyntheticConfig
    from transformer_mlops.data.synthetic import generate
    from transformer_mlops.io import write_jsonl

    sizes = SyntheticConfig(train=train, validation=validation, test=test)
    for split, rows in generate(task, sizes, seed=0).items():
        write_jsonl(prepared_dir / f"{split}.jsonl", rows)


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
def tiny_params_raw(default_params_raw) -> dict:
    """params.yaml shrunk by the CI profile (a fresh copy per test)."""
    return tiny_params(default_params_raw)
