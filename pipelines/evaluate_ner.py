"""DVC stage `evaluate_ner`: models/ner + test split -> reports/metrics/ner.json, errors, confusion
plot, behavioural checks; all logged to an MLflow run nested under the training run."""

from __future__ import annotations

from transformer_mlops.config import NerInference, load_params
from transformer_mlops.runner import log, run_stage, setup_logging
from transformer_mlops.tracking.connection import ensure_reachable


def main() -> None:
    cfg = load_params().ner  # params first: a mistake costs a second, not the imports
    ensure_reachable()  # a tracking server that cannot be used stops the stage before any work
    from transformer_mlops.evaluation.behaviour_ner import run_checks
    from transformer_mlops.evaluation.ner import evaluate
    from transformer_mlops.inference.ner import load_ner_model
    from transformer_mlops.io import write_json
    from transformer_mlops.tracking.runs import log_evaluation

    settings = NerInference.of(cfg)  # the same object goes to the registered model
    model, tokenizer = load_ner_model("models/ner")
    metrics = evaluate(model, tokenizer, "data/prepared/ner", settings, cfg.eval.worst_errors,
                       metrics_path="reports/metrics/ner.json", details_path="reports/details/ner.json",
                       errors_path="reports/errors/ner.json",
                       plot_path="reports/plots/ner/confusion.png")  # fmt: skip
    log.info(
        "NER test: entity F1 %.2f%% (macro %.2f%%)", metrics["test/f1"], metrics["test/macro_f1"]
    )
    behaviour = run_checks(model, tokenizer, settings)  # reports, never fails the stage
    write_json("reports/behaviour/ner.json", behaviour)
    for check in behaviour["checks"]:
        log.info("behaviour %s: pass rate %.2f", check["check"], check["pass_rate"])
    params = {**settings.model_dump(), "eval": cfg.eval.model_dump()}
    log_evaluation("ner", "evaluate_ner", params, {**metrics, "behaviour/overall_pass_rate": behaviour["overall_pass_rate"]},
                   {"reports": ["reports/errors/ner.json", "reports/behaviour/ner.json",
                                "reports/validation/ner.json", "params.yaml"],
                    "plots": ["reports/plots/ner/confusion.png"]})  # fmt: skip


if __name__ == "__main__":
    setup_logging()
    run_stage("evaluate_ner", main)
