"""DVC stage `register`: each task's evaluated model -> a new registered version in MLflow,
alias `challenger`, and `champion` only through the promotion gate -> reports/registry.json."""

from __future__ import annotations

import time

STARTED = time.perf_counter()  # before the imports: they are part of the stage's cost

# ruff: noqa: E402

from transformer_mlops.config import NerInference, QaInference, ScratchInference, load_params
from transformer_mlops.distributed import is_global_zero
from transformer_mlops.io import write_json
from transformer_mlops.runner import log, run_stage, setup_logging


def main() -> None:
    if not is_global_zero():
        return
    params = load_params()  # params first: a mistake costs a second, not the imports
    from transformer_mlops.tracking.registry import REGISTRY_REPORT, register, registrable

    settings = {  # what each registered model is served with: the settings it was evaluated with
        "scratch": ScratchInference.of(params.seq2seq.eval),
        "ner": NerInference.of(params.ner),
        "qa": QaInference.of(params.qa),
    }
    for task in settings:  # all three ready, or none registered
        registrable(task)
    report = {task: register(task, task_settings) for task, task_settings in settings.items()}
    write_json(REGISTRY_REPORT, report)  # each decision was logged by `register`
    # the whole stage is MLflow's share of the pipeline: say it, imports included
    log.info(
        "register stage: %.1f s including imports",
        time.perf_counter() - STARTED,
    )


if __name__ == "__main__":
    setup_logging()
    run_stage("register", main)
