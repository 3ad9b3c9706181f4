"""DVC stage `finetune_ner`: params `ner.*` + prepared data -> models/ner/ (save_pretrained)."""

from __future__ import annotations

from transformer_mlops.config import load_params
from transformer_mlops.io import write_json
from transformer_mlops.runner import log, run_user_command, setup_logging
from transformer_mlops.tasks.ner import train


def main() -> None:
    cfg = load_params().ner
    summary = train(cfg, "data/prepared/ner", "models/ner", "checkpoints/ner")
    write_json("reports/speed/ner.json", {
        "train/tokens_per_second": round(summary["train_tokens_per_second"], 1),
        "train/seconds": round(summary["train_seconds"], 1),
        "stage/wall_seconds": round(summary["wall_seconds"], 1),
        "train/steps": summary["global_step"],
        "train/precision": summary["precision"],
        "train/split_sentences": summary["split_sentences"],
    })  # fmt: skip
    log.info("fine-tuned NER: best val F1 %.4f after %d steps", summary["best_val_f1"], summary["global_step"])


if __name__ == "__main__":
    setup_logging()
    run_user_command(main)
