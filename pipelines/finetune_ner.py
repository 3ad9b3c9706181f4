"""DVC stage `finetune_ner`: params `ner.*` + prepared data -> models/ner/ (save_pretrained),
reports/speed/ner.json, and an MLflow run (id in reports/runs/ner.json)."""

from __future__ import annotations

from transformer_mlops.config import load_params
from transformer_mlops.io import write_json
from transformer_mlops.runner import log, run_user_command, setup_logging
from transformer_mlops.tasks.ner import train
from transformer_mlops.tasks.pretrained import resolve_pretrained
from transformer_mlops.tasks.resume import resumable_stage_run
from transformer_mlops.tasks.trainer import speed_report
from transformer_mlops.tracking.runs import is_global_zero, lightning_logger, log_speed


def main() -> None:
    cfg = load_params().ner
    resolve_pretrained(cfg.model, key="ner.model")  # a bad name stops before any MLflow run
    stage = resumable_stage_run("ner", "finetune_ner", cfg.model_dump(), "ner", "checkpoints/ner")
    with stage as (run, resume):  # resume: last.ckpt of an interrupted run, or None
        summary = train(cfg, "data/prepared/ner", "models/ner", "checkpoints/ner",
                        logger=lightning_logger(run), ckpt_path=resume)  # fmt: skip
        if not is_global_zero():  # DDP: rank 0 writes the reports
            return
        speed = speed_report(summary)
        write_json("reports/speed/ner.json", speed)
        log_speed(run, speed)
    log.info(
        "fine-tuned NER: best val F1 %.4f after %d steps",
        summary["best_val_f1"],
        summary["global_step"],
    )


if __name__ == "__main__":
    setup_logging()
    run_user_command(main)
