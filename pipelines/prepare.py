"""DVC stage `prepare@<task>`: params `<task>.data` -> data/prepared/<task>/{split}.jsonl + stats.json."""

from __future__ import annotations

import sys

from transformer_mlops.config import load_params
from transformer_mlops.data.prepare import prepare
from transformer_mlops.runner import log, run_user_command, setup_logging


def main(task: str) -> None:
    cfg = load_params().task(task).data
    stats = prepare(task, cfg, f"data/prepared/{task}")
    counts = {split: info["rows"] for split, info in stats["splits"].items()}
    log.info("prepared %s from %s source: %s", task, cfg.source, counts)


if __name__ == "__main__":
    setup_logging()
    run_user_command(main, sys.argv[1])
