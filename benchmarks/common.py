"""What every benchmark shares: the machine, medians, step timers, result files.

Each benchmark module runs in its own process (see run_all.py), times both sides of a
comparison one after the other on identical work, and writes `reports/bench/<name>.json`.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from transformer_mlops.tasks.hardware import cpu_has_fast_bf16

ROOT = Path(__file__).resolve().parents[1]
REPORTS = ROOT / "reports" / "bench"
DATASETS = Path(os.environ.get("TMLOPS_DATASETS", ROOT.parent / "shared" / "datasets"))
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))
SCALE = float(os.environ.get("BENCH_SCALE", "1"))  # < 1 for a quick check of the scripts

for name, value in {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
                    "MLFLOW_DISABLE_TELEMETRY": "true", "DVC_NO_ANALYTICS": "1"}.items():  # fmt: skip
    os.environ.setdefault(name, value)


def machine() -> dict[str, Any]:
    """CPU model, cores torch uses, torch version: printed with every table."""
    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": len(os.sched_getaffinity(0)),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "avx512_bf16": cpu_has_fast_bf16(),  # what `precision: auto` decides on
        "python": platform.python_version(),
    }


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def write_result(name: str, result: dict[str, Any]) -> Path:
    """reports/bench/<name>.json, written atomically."""
    REPORTS.mkdir(parents=True, exist_ok=True)
    path = REPORTS / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
    return path


class StepWindow:
    """Wall time from the start of the first training step to the end of the last one.

    Both sides of a comparison are timed this way (a Lightning callback and a Trainer callback
    call `begin`/`end`), so data loading between steps counts on both, set-up on neither.
    """

    def __init__(self):
        self.first: float | None = None
        self.last = 0.0
        self.steps = 0

    def begin(self) -> None:
        if self.first is None:
            self.first = time.perf_counter()

    def end(self) -> None:
        self.last = time.perf_counter()
        self.steps += 1

    @property
    def seconds(self) -> float:
        return self.last - (self.first or self.last)


def timed(fn, *args, **kwargs) -> tuple[Any, float]:
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - started
