"""Small files in the formats the recipes read (CoNLL, WNUT tab columns, SQuAD JSON, bAbI text,
tab-separated pairs), written from the synthetic generators, for machines without the public
datasets: a recipe's smoke run then still goes through its format reader and every setting."""

from __future__ import annotations

import json
import re
from pathlib import Path

from transformer_mlops.config import load_params
from transformer_mlops.data.synthetic import generate

ROOT = Path(__file__).resolve().parents[1]


def _records(task: str, n: int, seed: int) -> list[dict]:
    settings = getattr(load_params(ROOT / "params.yaml"), task).data.synthetic
    return generate(task, settings.model_copy(update={"train": n, "validation": 1, "test": 1}),
                    seed=seed)["train"]  # fmt: skip


def conll(path: Path, n: int, seed: int, columns: int = 4) -> Path:
    """`-DOCSTART-` documents of 10 sentences; 4 columns (CoNLL-2003) or token<TAB>tag (WNUT)."""
    lines = []
    for i, record in enumerate(_records("ner", n, seed)):
        if columns == 4 and i % 10 == 0:
            lines += ["-DOCSTART- -X- -X- O", ""]
        for token, tag in zip(record["tokens"], record["tags"], strict=True):
            lines.append(f"{token} NN O {tag}" if columns == 4 else f"{token}\t{tag}")
        lines.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def squad(path: Path, n: int, seed: int) -> Path:
    """SQuAD v1.1 JSON: one article per 5 questions, one paragraph per question."""
    articles = []
    for i, record in enumerate(_records("qa", n, seed)):
        if i % 5 == 0:
            articles.append({"title": f"article_{i // 5}", "paragraphs": []})
        answers = record["answers"]
        articles[-1]["paragraphs"].append({"context": record["context"], "qas": [{
            "id": record["id"], "question": record["question"],
            "answers": [{"text": t, "answer_start": s}
                        for t, s in zip(answers["text"], answers["answer_start"], strict=True)]}]})  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"version": "1.1", "data": articles}), encoding="utf-8")
    return path


def babi(path: Path, n: int, seed: int) -> Path:
    """bAbI text: each synthetic story numbered line by line, then its question."""
    lines = []
    for record in _records("qa", n, seed):
        sentences = re.findall(r"[^.]+\.", record["context"])
        lines += [f"{i} {s.strip()}" for i, s in enumerate(sentences, start=1)]
        lines.append(f"{len(sentences) + 1} {record['question']}\t{record['answers']['text'][0]}\t")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def pairs(path: Path, n: int, seed: int) -> Path:
    """source<TAB>target lines (the synthetic date pairs)."""
    rows = [f"{r['source']}\t{r['target']}" for r in _records("seq2seq", n, seed)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path
