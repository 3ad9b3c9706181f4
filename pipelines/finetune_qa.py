"""DVC stage `finetune_qa`: params `qa.*` + prepared data -> models/qa/ (save_pretrained),
reports/speed/qa.json, and an MLflow run (id in reports/runs/qa.json)."""

from __future__ import annotations

from transformer_mlops.config import load_params
from transformer_mlops.io import write_json
from transformer_mlops.runner import log, run_user_command, setup_logging
from transformer_mlops.tasks.pretrained import resolve_pretrained
from transformer_mlops.tasks.qa import train
from transformer_mlops.tasks.resume import resumable_stage_run
from transformer_mlops.tasks.trainer import speed_report
from transformer_mlops.tracking.runs import is_global_zero, lightning_logger, log_speed


def main() -> None:
    cfg = load_params().qa
    resolve_pretrained(cfg.model, key="qa.model")  # a bad name stops before any MLflow run
    stage = resumable_stage_run("qa", "finetune_qa", cfg.model_dump(), "qa", "checkpoints/qa")
    with stage as (run, resume):  # resume: last.ckpt of an interrupted run, or None
        summary = train(cfg, "data/prepared/qa", "models/qa", "checkpoints/qa",
                        logger=lightning_logger(run), ckpt_path=resume)  # fmt: skip
        if not is_global_zero():  # DDP: rank 0 writes the reports
            return
        speed = speed_report(summary)
        write_json("reports/speed/qa.json", speed)
        log_speed(run, speed)
    log.info(
        "fine-tuned QA: best val F1 %.2f after %d steps",
        summary["best_val_f1"],
        summary["global_step"],
    )


if __name__ == "__main__":
    setup_logging()
    run_user_command(main)
