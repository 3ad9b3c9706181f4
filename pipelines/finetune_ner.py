"""DVC stage `finetune_ner`: params `ner.*` + prepared data -> models/ner/ (save_pretrained),
reports/speed/ner.json, and an MLflow run (id in reports/runs/ner.json)."""

from __future__ import annotations

from transformer_mlops.config import load_params
from transformer_mlops.runner import log, run_stage, setup_logging
from transformer_mlops.tracking.connection import ensure_reachable


def main() -> None:
    cfg = load_params().ner  # params first: a mistake costs a second, not the imports
    ensure_reachable()  # a tracking server that cannot be used stops the stage before any work
    from transformer_mlops.tasks.ner import train
    from transformer_mlops.tasks.pretrained import resolve_pretrained
    from transformer_mlops.tracking.stage import run_training_stage

    resolve_pretrained(cfg.model, key="ner.model")  # a bad name stops before any MLflow run
    summary = run_training_stage("ner", "finetune_ner", cfg, train)
    if summary is not None:  # rank 0
        log.info("fine-tuned NER: best val F1 %.2f%% after %d steps",
                 summary["best_val_f1"], summary["global_step"])  # fmt: skip


if __name__ == "__main__":
    setup_logging()
    run_stage("finetune_ner", main)
