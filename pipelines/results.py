"""DVC stage `results`: reports/metrics, reports/speed, reports/bench -> docs/results.md; ends
`dvc repro` with a summary of where the results are."""

from __future__ import annotations

from transformer_mlops.evaluation.results import closing_summary, write_results
from transformer_mlops.runner import log, run_stage, setup_logging


def main() -> None:
    write_results("reports", "docs/results.md")
    log.info("wrote docs/results.md from reports/")
    print(closing_summary("reports"), flush=True)


if __name__ == "__main__":
    setup_logging()
    run_stage("results", main)
