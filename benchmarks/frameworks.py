"""QA training in TensorFlow (Keras, `qa.framework: tensorflow`) vs PyTorch (Lightning): the
stage's own `train` of each framework on the same batches of the default synthetic QA data,
the same steps, the same precision choice (`auto`), one after the other.

Throughput is real (not padding) tokens per second of training, as each stage reports it; the
figure with a goal is TF / PyTorch (the issue's bound: TF within 2x the PyTorch time, >= 0.5).
Skipped (no result) when TensorFlow is not installed (`make setup EXTRAS=tensorflow`).

Usage: python -m benchmarks.frameworks
"""

from __future__ import annotations

import importlib.util
import tempfile
from pathlib import Path
from typing import Any

import yaml

from benchmarks.common import ROOT, SCALE, machine, write_result
from transformer_mlops.config import parse_params
from transformer_mlops.data.synthetic import generate
from transformer_mlops.io import write_jsonl
from transformer_mlops.profiles import merge

# One epoch of the default data (3,600 stories, batch 8): the shapes and the share of XLA's
# one-off compiling (~10 s per batch shape) are the stage's first epoch's. At 150 steps the
# compiling dominated: TF/PyTorch 0.38, against 0.69 over the stage's three epochs.
STEPS = max(10, int(450 * SCALE))


def config(framework: str):
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    return parse_params(merge(raw, {"qa": {"framework": framework, "data": {"synthetic": {
        "train": 3600, "validation": 50, "test": 50}}, "train": {"trainer": {
        "max_steps": STEPS, "max_epochs": 1, "checkpoint_every_n_steps": 10**6}}}})).qa  # fmt: skip


def run() -> dict[str, Any] | None:
    if importlib.util.find_spec("tensorflow") is None:
        print("frameworks: TensorFlow is not installed (make setup EXTRAS=tensorflow); skipped")
        return None
    from transformer_mlops.tasks.qa import train as train_torch
    from transformer_mlops.tasks.qa_keras import train as train_keras

    result: dict[str, Any] = {"machine": machine(), "steps": STEPS}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cfg = config("pytorch")
        for split, rows in generate("qa", cfg.data.synthetic, seed=cfg.data.seed).items():
            write_jsonl(root / "prepared" / f"{split}.jsonl", rows)
        for name, train in (("pytorch", train_torch), ("tensorflow", train_keras)):
            summary = train(config(name), root / "prepared", root / name, root / f"ckpt-{name}",
                            **({"enable_progress_bar": False} if name == "pytorch" else {}))  # fmt: skip
            result[name] = {
                "tokens_per_second": round(summary["train_tokens_per_second"], 1),
                "train_seconds": round(summary["train_seconds"], 1),
                "steps": summary["global_step"],
                "precision": summary["precision"],
            }
    result["qa_tf_vs_torch_train_tokens_per_second"] = round(
        result["tensorflow"]["tokens_per_second"] / result["pytorch"]["tokens_per_second"], 3
    )
    return result


if __name__ == "__main__":
    outcome = run()
    if outcome is not None:
        print(write_result("frameworks", outcome))
