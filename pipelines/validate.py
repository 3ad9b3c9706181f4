"""DVC stage `validate@<task>`: Great Expectations on data/prepared/<task> -> reports/validation/."""

from __future__ import annotations

import sys

from transformer_mlops.config import load_params
from transformer_mlops.data.validation import validate
from transformer_mlops.runner import log, run_user_command, setup_logging


def main(task: str) -> None:
    cfg = load_params().task(task).data
    report = validate(
        task,
        cfg,
        prepared_dir=f"data/prepared/{task}",
        report_path=f"reports/validation/{task}.json",
        docs_dir=f"reports/validation/docs/{task}",
    )
    log.info("%s: all %d data checks passed", task, report["checks"])


if __name__ == "__main__":
    setup_logging()
    run_user_command(main, sys.argv[1])
