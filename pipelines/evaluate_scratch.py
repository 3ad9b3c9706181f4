"""DVC stage `evaluate_scratch`: models/scratch + test split -> reports/metrics/scratch.json, its
detail, errors, attention plots, behavioural checks on hand-written dates; all logged to an
MLflow run nested under the training run."""

from __future__ import annotations

from pathlib import Path

from transformer_mlops.config import load_params
from transformer_mlops.runner import log, run_stage, setup_logging
from transformer_mlops.tracking.connection import ensure_reachable


def main() -> None:
    cfg = load_params().seq2seq  # params first: a mistake costs a second, not the imports
    ensure_reachable()  # a tracking server that cannot be used stops the stage before any work
    from transformer_mlops.config import ScratchInference
    from transformer_mlops.evaluation.behaviour_scratch import not_applicable, run_checks
    from transformer_mlops.evaluation.seq2seq import evaluate
    from transformer_mlops.inference.scratch import load_scratch_model
    from transformer_mlops.io import write_json
    from transformer_mlops.tracking.runs import log_evaluation

    model, tokenizer = load_scratch_model("models/scratch")
    metrics = evaluate(model, tokenizer, "data/prepared/seq2seq", cfg.eval,
                       metrics_path="reports/metrics/scratch.json",
                       details_path="reports/details/scratch.json",
                       errors_path="reports/errors/scratch.json",
                       plots_dir="reports/plots/scratch/attention")  # fmt: skip
    log.info("scratch test: exact match %.2f%%, BLEU %.2f, chrF %.2f",
             metrics["test/exact_match"], metrics["test/bleu"], metrics["test/chrf"])  # fmt: skip
    behaviour = (run_checks(model, tokenizer, ScratchInference.of(cfg.eval))
                 if cfg.data.source == "synthetic" else not_applicable(cfg.data.source))  # fmt: skip
    write_json("reports/behaviour/scratch.json", behaviour)  # reports, never fails the stage
    for check in behaviour["checks"]:
        log.info("behaviour %s: pass rate %.2f", check["check"], check["pass_rate"])
    plots = sorted(str(p) for p in Path("reports/plots/scratch").rglob("*") if p.is_file())
    if "overall_pass_rate" in behaviour:  # the date checks ran (synthetic dates)
        metrics = {**metrics, "behaviour/overall_pass_rate": behaviour["overall_pass_rate"]}
    log_evaluation("scratch", "evaluate_scratch", {"eval": cfg.eval.model_dump()}, metrics,
                   {"reports": ["reports/errors/scratch.json", "reports/behaviour/scratch.json",
                                "reports/validation/seq2seq.json", "params.yaml"], "plots": plots},
                   section="seq2seq")  # fmt: skip


if __name__ == "__main__":
    setup_logging()
    run_stage("evaluate_scratch", main)
