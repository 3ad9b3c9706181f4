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
from transformer_mlops.evaluation.scores import percent, write_reports
from transformer_mlops.inference.ner import tag_words
from transformer_mlops.io import read_jsonl, save_figure, write_json


def entity_metrics(
    gold: list[list[str]], pred: list[list[str]]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(headline: micro precision/recall/F1; detail: macro F1/precision/recall and per-type
    scores), keys `test/...`, in percent."""
    report = classification_report(
        gold, pred, mode="strict", scheme=IOB2, output_dict=True, zero_division=0
    )
    micro, macro = report["micro avg"], report["macro avg"]
    per_type = {
        kind: {
            "precision": percent(v["precision"]),
            "recall": percent(v["recall"]),
            "f1": percent(v["f1-score"]),
            "support": int(v["support"]),
        }
        for kind, v in sorted(report.items())
        if not kind.endswith("avg")
    }
    headline = {
        "test/f1": percent(micro["f1-score"]),
        "test/precision": percent(micro["precision"]),
        "test/recall": percent(micro["recall"]),
        "test/examples": len(gold),
    }
    detail = {
        "test/macro_f1": percent(macro["f1-score"]),
        "test/macro_precision": percent(macro["precision"]),
        "test/macro_recall": percent(macro["recall"]),
        "test/per_type": per_type,
    }
    return headline, detail


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

    fig, ax = plt.subplots(figsize=(2.5 + 0.9 * len(types), 1.5 + 0.8 * len(types)))
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.05, pad=0.03, label="entity spans")
    darkest = max((value for row in matrix for value in row), default=0)
    for i, row in enumerate(matrix):
        for j, value in enumerate(row):
            ax.text(j, i, str(value), ha="center", va="center", fontsize=9,
                    color="white" if value > darkest / 2 else "black")  # fmt: skip
    ax.set_xticks(range(len(types)), types)
    ax.set_yticks(range(len(types)), types)
    ax.set_xlabel("predicted type (O: missed)")
    ax.set_ylabel("gold type (O: spurious)")
    ax.set_title("NER test: entity types of exact spans", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def evaluate(model, tokenizer, prepared_dir: str | Path, settings: NerInference, worst: int,
             metrics_path: str | Path, details_path: str | Path, errors_path: str | Path,
             plot_path: str | Path) -> dict[str, Any]:  # fmt: skip
    """The NER evaluation: metrics and detail JSON, worst errors JSON, confusion plot PNG;
    returns headline and detail together."""
    records = read_jsonl(Path(prepared_dir) / "test.jsonl")
    tagged = tag_words(model, tokenizer, [r["tokens"] for r in records], settings)
    pred = [labels for labels, _ in tagged]
    metrics = write_reports(*entity_metrics([r["tags"] for r in records], pred), metrics_path,
                            details_path)  # fmt: skip
    write_json(errors_path, worst_errors(records, pred, worst))
    plot_confusion(*type_confusion(records, pred), plot_path)
    return metrics
