"""DVC stage `register`: each task's evaluated model -> a new registered version in MLflow,
alias `challenger`, and `champion` only through the promotion gate -> reports/registry.json."""

from __future__ import annotations

import time

STARTED = time.perf_counter()  # before the imports: they are part of the stage's cost

# ruff: noqa: E402

from transformer_mlops.config import load_params
from transformer_mlops.io import write_json
from transformer_mlops.runner import log, run_user_command, setup_logging
from transformer_mlops.tracking.registry import GATES, REGISTRY_REPORT, register
from transformer_mlops.tracking.runs import is_global_zero


def main() -> None:
    if not is_global_zero():
        return
    params = load_params()
    model_configs = {
        "scratch": {"max_tokens": 64},
        "ner": {"max_length": params.ner.max_length},
        "qa": {key: getattr(params.qa, key)
               for key in ("max_length", "doc_stride", "n_best", "max_answer_length")},
    }  # fmt: skip
    report = {task: register(task, model_configs[task]) for task in GATES}
    write_json(REGISTRY_REPORT, report)
    for task, entry in report.items():
        log.info("%s: version %s, %s", task, entry["version"], entry["decision"])
    # the whole stage is MLflow's share of the pipeline: say it, imports included
    log.info(
        "register stage: %.1f s including imports",
        time.perf_counter() - STARTED,
    )


if __name__ == "__main__":
    setup_logging()
    run_user_command(main)
