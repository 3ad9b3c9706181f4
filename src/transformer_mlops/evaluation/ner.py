"""NER test-set evaluation: seqeval (strict IOB2) micro/macro/per-type scores, worst errors,
and a confusion plot of entity types."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from seqeval.metrics import classification_report
from seqeval.metrics.sequence_labeling import get_entities
from seqeval.scheme import IOB2

from transformer_mlops.config import NerInference
from transformer_mlops.inference.ner import tag_words
from transformer_mlops.io import read_jsonl, save_figure, write_json


def _r(value: float) -> float:
    return round(float(value), 6)


def entity_metrics(gold: list[list[str]], pred: list[list[str]]) -> dict[str, Any]:
    """Micro and macro precision/recall/F1 and per-type scores, keys `test/...`."""
    report = classification_report(
        gold, pred, mode="strict", scheme=IOB2, output_dict=True, zero_division=0
    )
    micro, macro = report["micro avg"], report["macro avg"]
    per_type = {
        kind: {
            "precision": _r(v["precision"]),
            "recall": _r(v["recall"]),
            "f1": _r(v["f1-score"]),
            "support": int(v["support"]),
        }
        for kind, v in sorted(report.items())
        if not kind.endswith("avg")
    }
    return {
        "test/precision": _r(micro["precision"]),
        "test/recall": _r(micro["recall"]),
        "test/f1": _r(micro["f1-score"]),
        "test/macro_precision": _r(macro["precision"]),
        "test/macro_recall": _r(macro["recall"]),
        "test/macro_f1": _r(macro["f1-score"]),
        "test/sentences": len(gold),
        "test/per_type": per_type,
    }


def _spans(tags: list[str]) -> set[tuple[str, int, int]]:
    return set(get_entities(tags))


def _show(spans: set[tuple[str, int, int]], words: list[str]) -> list[str]:
    return sorted(f"{kind}: {' '.join(words[a : b + 1])}" for kind, a, b in spans)


def worst_errors(records: list[dict], pred: list[list[str]], limit: int) -> list[dict]:
    """Sentences with the most span errors (missed + spurious), gold vs predicted spans."""
    errors = []
    for record, tags in zip(records, pred, strict=True):
        gold, found = _spans(record["tags"]), _spans(tags)
        if gold == found:
            continue
        words = record["tokens"]
        errors.append({"id": record["id"], "text": " ".join(words), "gold": _show(gold, words),
                       "predicted": _show(found, words), "errors": len(gold ^ found)})  # fmt: skip
    return sorted(errors, key=lambda e: (-e["errors"], e["id"]))[:limit]


def type_confusion(records: list[dict], pred: list[list[str]]) -> tuple[list[str], list[list[int]]]:
    """Counts of (gold type, predicted type) over gold entity spans; 'O' = missed/spurious."""
    counts: Counter = Counter()
    for record, tags in zip(records, pred, strict=True):
        gold = {(a, b): kind for kind, a, b in _spans(record["tags"])}
        found = {(a, b): kind for kind, a, b in _spans(tags)}
        for span, kind in gold.items():
            counts[(kind, found.get(span, "O"))] += 1
        for span, kind in found.items():
            if span not in gold:
                counts[("O", kind)] += 1
    types = [*sorted({k for pair in counts for k in pair} - {"O"}), "O"]
    return types, [[counts[(g, p)] for p in types] for g in types]


def plot_confusion(types: list[str], matrix: list[list[int]], path: str | Path) -> None:
    """Heatmap of gold (rows) vs predicted (columns) entity types."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1.0 + 0.8 * len(types), 1.0 + 0.7 * len(types)))
    ax.imshow(matrix, cmap="Blues")
    for i, row in enumerate(matrix):
        for j, value in enumerate(row):
            ax.text(j, i, str(value), ha="center", va="center", fontsize=8)
    ax.set_xticks(range(len(types)), types)
    ax.set_yticks(range(len(types)), types)
    ax.set_xlabel("predicted (O: missed)")
    ax.set_ylabel("gold (O: spurious)")
    ax.set_title("entity types, exact spans", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def evaluate(model, tokenizer, prepared_dir: str | Path, settings: NerInference, worst: int,
             metrics_path: str | Path, errors_path: str | Path, plot_path: str | Path) -> dict[str, Any]:  # fmt: skip
    """The NER evaluation: metrics JSON, worst errors JSON, confusion plot PNG."""
    records = read_jsonl(Path(prepared_dir) / "test.jsonl")
    tagged = tag_words(model, tokenizer, [r["tokens"] for r in records], settings)
    pred = [labels for labels, _ in tagged]
    metrics = entity_metrics([r["tags"] for r in records], pred)
    write_json(metrics_path, metrics)
    write_json(errors_path, worst_errors(records, pred, worst))
    plot_confusion(*type_confusion(records, pred), plot_path)
    return metrics
