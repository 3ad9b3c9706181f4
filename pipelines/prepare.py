"""DVC stage `prepare@<task>`: params `<task>.data` -> data/prepared/<task>/{split}.jsonl +
stats.json, validated by Great Expectations first: reports/validation/<task>.json (the
certificate later stages depend on) and Data Docs. Data that fails is never written."""

from __future__ import annotations

import sys

from transformer_mlops.config import load_params
from transformer_mlops.runner import log, run_stage, setup_logging


def main(task: str) -> None:
    cfg = load_params().task(task).data  # params first: a mistake costs a second, not the imports
    from transformer_mlops.data.prepare import prepare

    stats = prepare(task, cfg, f"data/prepared/{task}", report_path=f"reports/validation/{task}.json",
                    docs_dir=f"reports/validation/docs/{task}")  # fmt: skip
    counts = {split: info["rows"] for split, info in stats["splits"].items()}
    log.info("prepared %s from %s source, all data checks passed: %s", task, cfg.source, counts)


if __name__ == "__main__":
    setup_logging()
    task = sys.argv[1] if len(sys.argv) > 1 else ""
    run_stage(f"prepare@{task}", main, task)
