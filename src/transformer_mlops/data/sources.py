"""Data sources (synthetic | files | hub) -> train/validation/test records of one task.

Whatever the source, the result has the same shape (`schema.FIELDS`), missing splits are
carved from train by group (document, article, story) with a stable hash, optional caps are
seeded samples, and validation/test examples that also occur in train are dropped and counted.
Seq2seq may also hold out its longest pairs (`carve.longest`) as a second, marked part of test.
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path
from typing import Any

from transformer_mlops.config import SPLITS, DataConfig, FilesConfig, HubConfig
from transformer_mlops.data import formats, synthetic
from transformer_mlops.data.schema import FIELDS, LONGEST, OPTIONAL_FIELDS, content_key
from transformer_mlops.errors import ConfigError, DataError
from transformer_mlops.io import data_files

Splits = dict[str, list[dict[str, Any]]]


def _expand(pattern: str | list[str], key: str) -> list[Path]:
    patterns = [pattern] if isinstance(pattern, str) else list(pattern)
    paths: list[Path] = []
    for item in patterns:
        found = data_files(item)
        if not found:
            raise DataError(
                f"{key}: no data file at {item!r} (a path or glob, relative to the project root)"
            )
        paths += found
    return paths


def _read_files(task: str, cfg: FilesConfig, stats: dict[str, Any]) -> Splits:
    if cfg.train is None:
        raise ConfigError(f"{task}.data.files.train: a training file is required")
    splits: Splits = {}
    for split in SPLITS:
        pattern = getattr(cfg, split)
        if pattern is None:
            continue
        records: list[dict] = []
        for path in _expand(pattern, f"{task}.data.files.{split}"):
            if cfg.format == "conll":
                records += formats.read_conll(path, cfg.tag_column)
            elif cfg.format == "tsv":
                records += formats.read_tsv_pairs(path, cfg.source_column, cfg.target_column)
            elif cfg.format == "squad":
                records += formats.read_squad(path)
            else:
                found, skipped = formats.read_babi(path)
                records += found
                stats.setdefault("skipped_not_extractive", {})[split] = (
                    stats.get("skipped_not_extractive", {}).get(split, 0) + skipped
                )
        splits[split] = records
    return splits


def _column(row: dict, name: str, task: str) -> Any:
    """A possibly dotted column (`translation.en`) of a hub dataset row."""
    value: Any = row
    for part in name.split("."):
        if not isinstance(value, dict) or part not in value:
            raise DataError(
                f"{task}.data.hub.columns: column {name!r} not found in the dataset rows"
            )
        value = value[part]
    return value


def _read_hub(task: str, cfg: HubConfig) -> Splits:
    if not cfg.name:
        raise ConfigError(f"{task}.data.hub.name: set a dataset name or path for the hub source")
    import datasets  # heavy import, only for this source

    try:
        loaded = datasets.load_dataset(cfg.name, cfg.config, revision=cfg.revision)
    except Exception as error:  # the library raises many types; all mean "could not load"
        raise DataError(
            f"{task}.data.hub: could not load {cfg.name!r} ({cfg.config}): {error}"
        ) from None
    columns = {field: field for field in FIELDS[task] if field not in ("id", "kind")} | dict(
        cfg.columns
    )
    splits: Splits = {}
    for ours, theirs in cfg.splits.items():
        if theirs not in loaded:
            continue
        dataset = loaded[theirs]
        # Integer class labels (conll2003's ner_tags) become their names.
        tag_names = None
        if task == "ner":
            feature = dataset.features.get(columns["tags"].split(".")[0])
            inner = getattr(feature, "feature", None)
            tag_names = getattr(inner, "names", None)
        records = []
        for row in dataset:
            record = {field: _column(row, column, task) for field, column in columns.items()}
            if tag_names is not None:
                record["tags"] = [tag_names[t] for t in record["tags"]]
            if task == "qa":
                record.setdefault("kind", "hub")
                answers = record["answers"]
                record["answers"] = {
                    "text": list(answers["text"]),
                    "answer_start": list(answers["answer_start"]),
                }
            if "id" in row:
                record["id"] = str(row["id"])
            record["group"] = row.get("title", record.get("id", ""))
            records.append(record)
        splits[ours] = records
    if "train" not in splits:
        raise DataError(
            f"{task}.data.hub: dataset {cfg.name!r} has no split mapped to train ({cfg.splits})"
        )
    return splits


def _bucket(group: str, seed: int) -> float:
    """A stable number in [0, 1) for a group: the same group always lands in the same split."""
    digest = hashlib.sha256(f"{seed}:{group}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _hold_out_longest(task: str, splits: Splits, fraction: float) -> list[dict]:
    """Take the longest `fraction` of train pairs (by source words; ties by text, so the cut is
    stable) out of train; returns them marked `format: longest`, in file order."""
    if not fraction:
        return []
    if task != "seq2seq":
        raise ConfigError(f"{task}.data.carve.longest: only seq2seq holds out its longest "
                          f"examples; set it to 0")  # fmt: skip
    train = splits["train"]
    order = sorted(
        range(len(train)), key=lambda i: (-len(train[i]["source"].split()), train[i]["source"])
    )
    chosen = set(order[: round(fraction * len(train))])
    splits["train"] = [r for i, r in enumerate(train) if i not in chosen]
    return [train[i] | {"format": LONGEST} for i in sorted(chosen)]


def _carve(task: str, splits: Splits, cfg: DataConfig) -> list[str]:
    """Carve missing validation/test splits from train, by group; returns what was carved."""
    missing = [split for split in ("validation", "test") if split not in splits]
    if not missing:
        return []
    bounds, low = {}, 0.0
    for split in missing:
        bounds[split] = (low, low + getattr(cfg.carve, split))
        low += getattr(cfg.carve, split)
    keep: list[dict] = []
    carved: Splits = {split: [] for split in missing}
    for record in splits["train"]:
        point = _bucket(str(record.get("group") or content_key(task, record)), cfg.seed)
        target = next((s for s, (a, b) in bounds.items() if a <= point < b), None)
        (carved[target] if target else keep).append(record)
    splits["train"] = keep
    splits.update(carved)
    return missing


def _cap(records: list[dict], limit: int | None, seed: int) -> list[dict]:
    if limit is None or len(records) <= limit:
        return records
    chosen = sorted(random.Random(seed).sample(range(len(records)), limit))
    return [records[i] for i in chosen]


def load_task(task: str, cfg: DataConfig) -> tuple[Splits, dict[str, Any]]:
    """Load one task's splits from its configured source; returns (splits, preparation stats)."""
    stats: dict[str, Any] = {"source": cfg.source}
    if cfg.source == "synthetic":
        splits = synthetic.generate(task, cfg.synthetic, cfg.seed)
    elif cfg.source == "files":
        splits = _read_files(task, cfg.files, stats)
    else:
        splits = _read_hub(task, cfg.hub)
    longest = _hold_out_longest(task, splits, cfg.carve.longest)
    stats["carved"] = _carve(task, splits, cfg)
    for split in SPLITS:
        splits[split] = _cap(splits[split], getattr(cfg.limit, split), cfg.seed)
    if longest:  # the test split's second part, capped on its own
        stats["held_out_longest"] = len(longest)
        splits["test"] += _cap(longest, cfg.limit.test, cfg.seed)
    if cfg.drop_overlap:  # test keeps what it has; validation gives way to train and test
        train_keys = {content_key(task, r) for r in splits["train"]}
        stats["dropped_overlap"] = {}
        for split in ("validation", "test"):
            before = len(splits[split])
            splits[split] = [r for r in splits[split] if content_key(task, r) not in train_keys]
            stats["dropped_overlap"][split] = before - len(splits[split])
        test_keys = {content_key(task, r) for r in splits["test"]}
        before = len(splits["validation"])
        splits["validation"] = [
            r for r in splits["validation"] if content_key(task, r) not in test_keys
        ]
        stats["dropped_overlap"]["validation"] += before - len(splits["validation"])
    keep = FIELDS[task] + OPTIONAL_FIELDS[task]
    prepared: Splits = {}
    for split in SPLITS:
        prepared[split] = [
            {"id": f"{task}-{split}-{index:06d}"} | {k: r[k] for k in keep if k in r}
            for index, r in enumerate(splits[split])
        ]
    return prepared, stats
