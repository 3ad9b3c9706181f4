"""DVC stage `train_scratch`: params `seq2seq.*` + prepared data -> models/scratch/, speed and
loss plots, and an MLflow run (id in reports/runs/scratch.json)."""

from __future__ import annotations

from transformer_mlops.config import load_params
from transformer_mlops.runner import log, run_stage, setup_logging
from transformer_mlops.tracking.connection import ensure_reachable


def main() -> None:
    cfg = load_params().seq2seq  # params first: a mistake costs a second, not the imports
    ensure_reachable()  # a tracking server that cannot be used stops the stage before any work
    from transformer_mlops.tasks.seq2seq import train
    from transformer_mlops.tracking.stage import run_training_stage

    summary = run_training_stage("scratch", "train_scratch", cfg, train, data_task="seq2seq")
    if summary is not None:  # rank 0
        log.info("trained scratch model: best val exact match %.2f%% after %d steps",
                 summary["best_val_exact_match"], summary["global_step"])  # fmt: skip


if __name__ == "__main__":
    setup_logging()
    run_stage("train_scratch", main)
