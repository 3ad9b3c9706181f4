"""DVC stage `finetune_qa`: params `qa.*` + prepared data -> models/qa/ (save_pretrained)."""

from __future__ import annotations

from transformer_mlops.config import load_params
from transformer_mlops.io import write_json
from transformer_mlops.runner import log, run_user_command, setup_logging
from transformer_mlops.tasks.qa import train
from transformer_mlops.tasks.trainer import speed_report


def main() -> None:
    cfg = load_params().qa
    summary = train(cfg, "data/prepared/qa", "models/qa", "checkpoints/qa")
    write_json("reports/speed/qa.json", speed_report(summary))
    log.info(
        "fine-tuned QA: best val F1 %.2f after %d steps",
        summary["best_val_f1"],
        summary["global_step"],
    )


if __name__ == "__main__":
    setup_logging()
    run_user_command(main)
