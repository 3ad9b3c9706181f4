"""The `prepare` stage's work: load a task's source, validate it, and only then write its
splits, stats and validation report (data that fails validation is never written)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from transformer_mlops.config import SPLITS, DataConfig
from transformer_mlops.data.sources import Splits, load_task
from transformer_mlops.data.validation import validate
from transformer_mlops.io import atomic_dir, write_json, write_jsonl


def _lengths(task: str, records: list[dict]) -> list[int]:
    """Length of each example in its natural unit: characters (seq2seq source), tokens, words."""
    if task == "seq2seq":
        return [len(r["source"]) for r in records]
    if task == "ner":
        return [len(r["tokens"]) for r in records]
    return [len(r["context"].split()) for r in records]


def _labels(task: str, records: list[dict]) -> Counter:
    if task == "ner":
        return Counter(tag for r in records for tag in r["tags"])
    if task == "qa":
        return Counter(r["kind"] for r in records)
    return Counter(r.get("format", "pair") for r in records)


def split_stats(task: str, splits: Splits) -> dict[str, Any]:
    """Counts, label (or kind/format) distribution and length percentiles per split."""
    stats: dict[str, Any] = {}
    for split in SPLITS:
        records = splits[split]
        lengths = np.array(_lengths(task, records) or [0])
        p50, p90, p99 = (round(v, 2) for v in np.percentile(lengths, [50, 90, 99]).tolist())
        stats[split] = {
            "rows": len(records),
            "labels": dict(sorted(_labels(task, records).items())),
            "length": {"min": int(lengths.min()), "p50": p50, "p90": p90, "p99": p99,
                       "max": int(lengths.max())},
        }  # fmt: skip
    return stats


def prepare(task: str, cfg: DataConfig, out_dir: str | Path, report_path: str | Path,
            docs_dir: str | Path) -> dict[str, Any]:  # fmt: skip
    """Load, validate (Great Expectations), then write `<out_dir>/{train,validation,test}.jsonl`
    and `stats.json`; returns the stats.

    Validation runs on the splits in memory, before anything is written: data that fails it
    raises ValidationFailed with its report beside the last good one (`data.validation.validate`)
    and leaves `out_dir` as it was. The directory is replaced only when every file is complete.
    """
    splits, source_stats = load_task(task, cfg)
    stats = {"task": task, **source_stats, "splits": split_stats(task, splits)}
    validate(task, cfg, splits, report_path, docs_dir)
    with atomic_dir(out_dir) as tmp:
        for split in SPLITS:
            write_jsonl(tmp / f"{split}.jsonl", splits[split])
        write_json(tmp / "stats.json", stats)
    return stats
