"""DVC stage `train_scratch`: params `seq2seq.*` + prepared data -> models/scratch/, speed and
loss plots, and an MLflow run (id in reports/runs/scratch.json)."""

from __future__ import annotations

from transformer_mlops.config import load_params
from transformer_mlops.io import write_json
from transformer_mlops.runner import log, run_user_command, setup_logging
from transformer_mlops.tasks.resume import resumable_stage_run
from transformer_mlops.tasks.seq2seq import train
from transformer_mlops.tasks.trainer import speed_report
from transformer_mlops.tracking.runs import is_global_zero, lightning_logger, log_speed


def main() -> None:
    cfg = load_params().seq2seq
    with resumable_stage_run(
        "scratch", "train_scratch", cfg.model_dump(), "seq2seq", "checkpoints/scratch"
    ) as (run, resume):
        summary = train(cfg, "data/prepared/seq2seq", "models/scratch", "checkpoints/scratch",
                        logger=lightning_logger(run), ckpt_path=resume)  # fmt: skip
        if not is_global_zero():  # DDP: rank 0 writes the reports
            return
        history = summary.pop("history")
        write_json("reports/plots/scratch/train_loss.json", history["train"])
        write_json("reports/plots/scratch/val.json", history["val"])
        speed = speed_report(summary)
        write_json("reports/speed/scratch.json", speed)
        log_speed(run, speed)
    log.info("trained scratch model: best val exact match %.4f after %d steps",
             summary["best_val_exact_match"], summary["global_step"])  # fmt: skip


if __name__ == "__main__":
    setup_logging()
    run_user_command(main)
