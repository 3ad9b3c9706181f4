"""QA test-set evaluation: SQuAD exact match / F1 overall and per kind (bAbI task or source),
the worst errors, and F1 by context length (a PNG and a DVC plot table; buckets with fewer than
MIN_QUESTIONS questions are counted but not drawn: their mean says little)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from transformer_mlops.config import QaConfig, QaInference
from transformer_mlops.evaluation.scores import percent, write_reports
from transformer_mlops.features.squad_metric import best_over_golds, exact_match, token_f1
from transformer_mlops.inference.qa import answer
from transformer_mlops.io import read_jsonl, save_figure, write_json

# Context-length buckets, in words (upper bounds); the last one is open.
LENGTH_BUCKETS = (50, 100, 150, 200, 300, 400, 600)
MIN_QUESTIONS = 10


def scored(records: list[dict], predictions: list[dict]) -> list[dict]:
    """Per question: the prediction with its exact match and F1 (0-1) against the golds."""
    rows = []
    for record, predicted in zip(records, predictions, strict=True):
        golds = record["answers"]["text"]
        rows.append({**predicted, "em": best_over_golds(exact_match, predicted["answer"], golds),
                     "f1": best_over_golds(token_f1, predicted["answer"], golds)})  # fmt: skip
    return rows


def _mean(rows: list[dict], key: str) -> float:
    return percent(sum(r[key] for r in rows) / len(rows)) if rows else 0.0


def length_bucket(words: int) -> str:
    """A readable bucket label for a context of `words` words, e.g. '51-100'."""
    lower = 0
    for upper in LENGTH_BUCKETS:
        if words <= upper:
            return f"{lower + 1}-{upper}"
        lower = upper
    return f">{LENGTH_BUCKETS[-1]}"


def qa_metrics(records: list[dict], rows: list[dict]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(headline: EM and F1 in percent; detail: the same per kind); keys `test/...`."""
    kinds: dict[str, list[dict]] = {}
    for record, row in zip(records, rows, strict=True):
        kinds.setdefault(record["kind"], []).append(row)
    headline = {
        "test/exact_match": _mean(rows, "em"),
        "test/f1": _mean(rows, "f1"),
        "test/examples": len(rows),
    }
    return headline, {
        "test/per_kind": {
            kind: {
                "exact_match": _mean(part, "em"),
                "f1": _mean(part, "f1"),
                "questions": len(part),
            }
            for kind, part in sorted(kinds.items())
        },
    }


def f1_by_context_length(records: list[dict], rows: list[dict]) -> list[dict]:
    """Rows for a DVC plot: bucket, questions, mean F1 (percent), in bucket order."""
    buckets: dict[str, list[float]] = {}
    for record, row in zip(records, rows, strict=True):
        buckets.setdefault(length_bucket(len(record["context"].split())), []).append(row["f1"])
    order = [length_bucket(b) for b in LENGTH_BUCKETS] + [f">{LENGTH_BUCKETS[-1]}"]
    return [
        {
            "context_words": name,
            "questions": len(buckets[name]),
            "f1": percent(sum(buckets[name]) / len(buckets[name])),
        }
        for name in order
        if name in buckets
    ]


def worst_errors(records: list[dict], rows: list[dict], limit: int) -> list[dict]:
    """Lowest-F1 questions (then most confident), with gold answers and the context around."""
    wrong = [
        {
            "id": record["id"],
            "kind": record["kind"],
            "question": record["question"],
            "gold": record["answers"]["text"],
            "predicted": row["answer"],
            "score": row["score"],
            "f1": percent(row["f1"]),
            "context": record["context"],
        }
        for record, row in zip(records, rows, strict=True)
        if row["em"] < 1.0
    ]
    return sorted(wrong, key=lambda e: (e["f1"], -e["score"], e["id"]))[:limit]


def plot_f1_by_length(table: list[dict], path: str | Path) -> None:
    """Bars of mean F1 per context-length bucket with their question counts; buckets under
    MIN_QUESTIONS questions are named in the caption instead of drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    drawn = [row for row in table if row["questions"] >= MIN_QUESTIONS]
    small = [f"{row['context_words']} ({row['questions']})" for row in table
             if row["questions"] < MIN_QUESTIONS]  # fmt: skip
    fig, ax = plt.subplots(figsize=(max(5.0, 2.0 + 0.9 * len(drawn)), 3.6))
    names = [row["context_words"] for row in drawn]
    bars = ax.bar(names, [row["f1"] for row in drawn], color="#4c72b0")
    for bar, row in zip(bars, drawn, strict=True):
        ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height() + 1, f"n={row['questions']}",
                ha="center", fontsize=8)  # fmt: skip
    ax.set_ylim(0, 110)
    ax.set_xlabel("context length (words)")
    ax.set_ylabel("F1 (%)")
    ax.set_title("QA test F1 by context length", fontsize=10)
    if small:
        fig.text(0.01, 0.01, f"not drawn (< {MIN_QUESTIONS} questions): {', '.join(small)}",
                 fontsize=7, color="#555555")  # fmt: skip
    fig.tight_layout(rect=(0, 0.05 if small else 0, 1, 1))
    save_figure(fig, path)
    plt.close(fig)


def trained_with(model) -> str:
    """The framework that trained a saved QA model: `qa.framework: tensorflow` notes itself in
    the config (tasks/qa_keras.py); every other model was trained in PyTorch."""
    note = getattr(model.config, "transformer_mlops", None) or {}
    return note.get("framework", "pytorch")


def evaluate(model, tokenizer, prepared_dir: str | Path, cfg: QaConfig, metrics_path: str | Path,
             details_path: str | Path, errors_path: str | Path, table_path: str | Path,
             plot_path: str | Path) -> dict:  # fmt: skip
    """The `evaluate_qa` stage's work: metrics and detail, worst errors, F1-by-length table (the
    buckets with enough questions to draw) and plot; returns headline and detail together."""
    test = Path(prepared_dir) / "test.jsonl"
    records = read_jsonl(test)
    predictions = answer(model, tokenizer, [r["question"] for r in records],
                         [r["context"] for r in records], QaInference.of(cfg), cfg.eval.batch_size,
                         names=[f"{test}:{line} (id {r['id']})" for line, r in enumerate(records, 1)])  # fmt: skip
    rows = scored(records, predictions)
    headline, detail = qa_metrics(records, rows)
    detail["model/framework"] = trained_with(model)
    metrics = write_reports(headline, detail, metrics_path, details_path)
    table = f1_by_context_length(records, rows)
    write_json(errors_path, worst_errors(records, rows, cfg.eval.worst_errors))
    write_json(table_path, [row for row in table if row["questions"] >= MIN_QUESTIONS])
    plot_f1_by_length(table, plot_path)
    return metrics
