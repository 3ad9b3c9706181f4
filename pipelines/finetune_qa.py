"""DVC stage `finetune_qa`: params `qa.*` + prepared data -> models/qa/ (save_pretrained),
reports/speed/qa.json, and an MLflow run (id in reports/runs/qa.json). `qa.framework` picks
Lightning (pytorch) or Keras (tensorflow); both save the same Hugging Face folder."""

from __future__ import annotations

from transformer_mlops.config import load_params
from transformer_mlops.errors import ConfigError
from transformer_mlops.runner import log, run_stage, setup_logging
from transformer_mlops.tracking.connection import ensure_reachable


def main() -> None:
    cfg = load_params().qa  # params first: a mistake costs a second, not the imports
    ensure_reachable()  # a tracking server that cannot be used stops the stage before any work
    from transformer_mlops.tasks.pretrained import resolve_pretrained
    from transformer_mlops.tracking.stage import run_training_stage

    if cfg.framework == "tensorflow":
        try:
            from transformer_mlops.tasks.qa_keras import check_settings, train
        except ModuleNotFoundError as error:  # the optional extra is not installed
            raise ConfigError(f"qa.framework = tensorflow: {error.name} is not installed; install "
                              "the extra: pip install -c requirements.lock -e '.[tensorflow]'") from None  # fmt: skip
        check_settings(cfg)  # before any MLflow run, like a bad model name
    else:
        from transformer_mlops.tasks.qa import train
    resolve_pretrained(cfg.model, key="qa.model")  # a bad name stops before any MLflow run
    summary = run_training_stage("qa", "finetune_qa", cfg, train)
    if summary is not None:  # rank 0
        log.info("fine-tuned QA: best val F1 %.2f after %d steps",
                 summary["best_val_f1"], summary["global_step"])  # fmt: skip


if __name__ == "__main__":
    setup_logging()
    run_stage("finetune_qa", main)
