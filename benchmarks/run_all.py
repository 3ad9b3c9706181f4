"""`make bench`: every benchmark in its own process, one after the other, then
reports/bench/summary.json (one key per figure + the machine) and a table (summary.md).

BENCH_ONLY=scratch,decode runs a subset (merged with earlier results); BENCH_REPEATS and
BENCH_SCALE shrink the work for a quick check of the scripts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

from benchmarks.common import REPORTS, machine, write_result

STEPS = {  # result file: command
    "finetune_ner": ["benchmarks.finetune", "ner"],
    "finetune_qa": ["benchmarks.finetune", "qa"],
    "scratch": ["benchmarks.scratch"],
    "decode": ["benchmarks.decode"],
    "inference": ["benchmarks.inference"],
    "pipeline": ["benchmarks.pipeline"],
    "serving": ["benchmarks.serving"],
    "frameworks": ["benchmarks.frameworks"],  # needs the tensorflow extra; skipped without it
}

# key: (what, goal, "min" = at least / "max" = at most), None where there is no goal
GOALS: dict[str, tuple[str, float | None, str]] = {
    "ner_train_speedup_vs_hf_trainer": (
        "NER training vs HF Trainer (run_ner.py defaults)",
        3.0,
        "min",
    ),
    "ner_train_speedup_vs_hf_trainer_tuned": ("NER training vs HF Trainer (tuned)", 1.3, "min"),
    "qa_train_speedup_vs_hf_trainer": (
        "QA training vs HF Trainer (run_qa.py defaults)",
        3.0,
        "min",
    ),
    "qa_train_speedup_vs_hf_trainer_tuned": ("QA training vs HF Trainer (tuned)", 1.3, "min"),
    "scratch_mfu": ("scratch model FLOP utilisation (of the precision's matmul peak)", 0.5, "min"),
    "scratch_bf16_vs_fp32": ("scratch training, bf16-mixed vs fp32 tokens/s", None, ""),
    "kv_cache_speedup_greedy": ("KV cache vs none, greedy, 64 tokens", None, ""),
    "kv_cache_speedup_beam4": ("KV cache vs none, beam 4, 64 tokens", None, ""),
    "qa_latency_p50_ms": ("QA p50 latency, one window (ms)", 20.0, "max"),
    "qa_latency_p95_ms": ("QA p95 latency, one window (ms)", None, ""),
    "qa_latency_p50_ms_onnx": ("QA p50 latency, ONNX Runtime (ms)", None, ""),
    "qa_latency_p50_ms_hf_plain": (
        "QA p50 latency, plain transformers (no QA pipeline in v5) (ms)",
        None,
        "",
    ),
    "ner_sentences_per_second": ("NER sentences/s, ours", None, ""),
    "ner_sentences_per_second_onnx": ("NER sentences/s, ONNX Runtime", None, ""),
    "ner_sentences_per_second_hf_pipeline": ("NER sentences/s, transformers.pipeline", None, ""),
    "pipeline_from_scratch_seconds": ("default dvc repro from scratch (s)", 900.0, "max"),
    "pipeline_noop_seconds": ("no-op dvc repro (s)", 2.0, "max"),
    "mlflow_share": ("MLflow share of the default dvc repro", 0.05, "max"),
    "qa_tf_vs_torch_train_tokens_per_second": (
        "QA training tokens/s, TensorFlow (Keras) / PyTorch (Lightning), same batches",
        0.5,
        "min",
    ),
    "serving_worst_request_p99_ms": (
        "tmlops serve ner: worst allowed request alone, p99 (ms)",
        2000.0,
        "max",
    ),
    "serving_load_good_p50_ms": (
        "tmlops serve ner: 500 requests, 16 in flight, good p50 (ms)",
        None,
        "",
    ),
    "serving_load_good_p95_ms": (
        "tmlops serve ner: 500 requests, 16 in flight, good p95 (ms)",
        None,
        "",
    ),
}


def load(name: str) -> dict[str, Any]:
    path = REPORTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def summary() -> dict[str, Any]:
    parts = {name: load(name) for name in STEPS}
    scratch = parts["scratch"]
    flat: dict[str, Any] = {}
    for part in parts.values():
        flat.update({k: v for k, v in part.items() if k in GOALS})
    if scratch:
        flat["scratch_bf16_vs_fp32"] = scratch["bf16_vs_fp32"]
        flat["scratch_tokens_per_second"] = scratch["tokens_per_second"]
        flat["scratch_matmul_peak_gflops"] = scratch["matmul_peak_gflops"]
        flat["scratch_mfu_vs_bf16_peak"] = scratch["scratch_mfu_vs_bf16_peak"]
    for task in ("ner", "qa"):
        part = parts[f"finetune_{task}"]
        if part:
            flat[f"{task}_train"] = {side: part[side] for side in ("ours", "hf_default", "hf_tuned", "hf_tuned_bf16")
                                     if side in part}  # fmt: skip
    goals = {}
    for key, (_, goal, sense) in GOALS.items():
        if goal is not None and key in flat:
            goals[key] = {
                "goal": goal,
                "met": flat[key] >= goal if sense == "min" else flat[key] <= goal,
            }
    return {"machine": machine(), **flat, "goals": goals}


def table(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = [f"Measured on {m['cpu']}, {m['cores']} cores, torch {m['torch']}"
             f" (bf16 instructions: {'yes' if m['avx512_bf16'] else 'no'}).", "",
             "| figure | value | goal |", "| --- | --- | --- |"]  # fmt: skip
    for key, (what, goal, sense) in GOALS.items():
        if key not in result:
            continue
        value = result[key]
        shown = f"{value:.1%}" if key == "mlflow_share" else f"{value:g}"
        wanted = "" if goal is None else (f"{'>=' if sense == 'min' else '<='} "
                                          f"{f'{goal:.0%}' if key == 'mlflow_share' else f'{goal:g}'}")  # fmt: skip
        if key in result["goals"]:
            wanted += " (met)" if result["goals"][key]["met"] else " (missed)"
        lines.append(f"| {what} | {shown} | {wanted} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    only = [s for s in os.environ.get("BENCH_ONLY", "").split(",") if s]
    started = time.perf_counter()
    timings = {}
    for name, command in STEPS.items():
        if only and name not in only:
            continue
        print(f"== {name}", flush=True)
        step_started = time.perf_counter()
        subprocess.run([sys.executable, "-m", *command], check=True)
        timings[name] = round(time.perf_counter() - step_started, 1)
    result = summary()
    result["bench_seconds"] = timings | {"total": round(time.perf_counter() - started, 1)}
    write_result("summary", result)
    (REPORTS / "summary.md").write_text(table(result))
    print(table(result))
    print(f"wrote {REPORTS / 'summary.json'} in {result['bench_seconds']['total']:.0f} s")


if __name__ == "__main__":
    main()
