"""DVC stage `results`: reports/metrics, reports/speed, reports/bench -> docs/results.md."""

from __future__ import annotations

from transformer_mlops.evaluation.results import write_results
from transformer_mlops.runner import log, run_stage, setup_logging


def main() -> None:
    write_results("reports", "docs/results.md")
    log.info("wrote docs/results.md from reports/")


if __name__ == "__main__":
    setup_logging()
    run_stage("results", main)
