"""DVC stage `evaluate_qa`: models/qa + test split -> reports/metrics/qa.json, errors, plots,
behavioural checks; all logged to an MLflow run nested under the training run."""

from __future__ import annotations

from transformer_mlops.config import QaInference, load_params
from transformer_mlops.runner import log, run_stage, setup_logging
from transformer_mlops.tracking.connection import ensure_reachable


def main() -> None:
    cfg = load_params().qa  # params first: a mistake costs a second, not the imports
    ensure_reachable()  # a tracking server that cannot be used stops the stage before any work
    from transformer_mlops.evaluation.behaviour_qa import run_checks
    from transformer_mlops.evaluation.qa import evaluate
    from transformer_mlops.inference.qa import load_qa_model
    from transformer_mlops.io import write_json
    from transformer_mlops.tracking.runs import log_evaluation

    model, tokenizer = load_qa_model("models/qa")
    metrics = evaluate(model, tokenizer, "data/prepared/qa", cfg,
                       metrics_path="reports/metrics/qa.json", details_path="reports/details/qa.json",
                       errors_path="reports/errors/qa.json",
                       table_path="reports/plots/qa/f1_by_context_length.json",
                       plot_path="reports/plots/qa/f1_by_context_length.png")  # fmt: skip
    log.info("QA test: EM %.2f, F1 %.2f", metrics["test/exact_match"], metrics["test/f1"])
    behaviour = run_checks(model, tokenizer, QaInference.of(cfg))  # reports, never fails the stage
    write_json("reports/behaviour/qa.json", behaviour)
    for check in behaviour["checks"]:
        log.info("behaviour %s: pass rate %.2f", check["check"], check["pass_rate"])
    log.info("the model was trained with %s", metrics["model/framework"])
    log_evaluation("qa", "evaluate_qa", {**QaInference.of(cfg).model_dump(), "eval": cfg.eval.model_dump(),
                                         "trained_with": metrics["model/framework"]},
                   {**metrics, "behaviour/overall_pass_rate": behaviour["overall_pass_rate"]},
                   {"reports": ["reports/errors/qa.json", "reports/behaviour/qa.json",
                                "reports/validation/qa.json", "params.yaml"],
                    "plots": ["reports/plots/qa/f1_by_context_length.png",
                              "reports/plots/qa/f1_by_context_length.json"]})  # fmt: skip


if __name__ == "__main__":
    setup_logging()
    run_stage("evaluate_qa", main)
