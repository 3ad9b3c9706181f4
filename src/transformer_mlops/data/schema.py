"""The prepared record of each task, and the key that says when two examples are the same."""

from __future__ import annotations

from typing import Any

# Fields every prepared record of a task has (JSON lines in data/prepared/<task>/<split>.jsonl).
FIELDS: dict[str, tuple[str, ...]] = {
    "seq2seq": ("id", "source", "target"),
    "ner": ("id", "tokens", "tags"),
    "qa": ("id", "kind", "context", "question", "answers"),
}

# Extra fields kept when a source has them: for per-slice analysis (format, template), and QA's
# `evidence` ([start, end) character spans of the context sentences the answer rests on), which
# training may use as auxiliary supervision.
OPTIONAL_FIELDS: dict[str, tuple[str, ...]] = {
    "seq2seq": ("format",),
    "ner": ("template",),
    "qa": ("evidence",),
}

# The `format` of seq2seq test pairs held out for their length (`data.carve.longest`).
LONGEST = "longest"


def label_set(entity_types: list[str]) -> list[str]:
    """NER's IOB2 labels for entity types: O, B-X, I-X (the order gives the label ids)."""
    return ["O"] + [f"{prefix}-{kind}" for kind in entity_types for prefix in ("B", "I")]


def content_key(task: str, record: dict[str, Any]) -> str:
    """Text that identifies an example's content (ids aside): equal keys mean a duplicate."""
    if task == "seq2seq":
        return record["source"]
    if task == "ner":
        return " ".join(record["tokens"])
    return record["context"] + "\x1f" + record["question"]
