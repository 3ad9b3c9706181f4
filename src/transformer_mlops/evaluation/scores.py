"""The one convention of the evaluation reports. reports/metrics/<task>.json holds the headline
scores a task is judged by (what `dvc metrics show` and `dvc exp show` compare);
reports/details/<task>.json the breakdown (per entity type, per question kind, per date format).
Every score is a percent (0-100, two decimals), as SQuAD, BLEU and chrF report theirs; counts are
integers; a loss is in nats per token."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from transformer_mlops.io import write_json

UNIT = "percent"  # tagged on registered versions: a gate compares figures of one unit only


def percent(fraction: float) -> float:
    """A fraction (0-1) as the reports' percent."""
    return round(100.0 * float(fraction), 2)


def write_reports(headline: dict[str, Any], detail: dict[str, Any], metrics_path: str | Path,
                  details_path: str | Path) -> dict[str, Any]:  # fmt: skip
    """Write the headline and the detail reports; return both in one dict (what MLflow logs)."""
    write_json(metrics_path, headline)
    write_json(details_path, detail)
    return {**headline, **detail}
