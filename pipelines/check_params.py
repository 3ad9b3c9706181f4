"""DVC stage `check_params`: the whole params.yaml against the schema, on every edit of it.

The other stages depend on the keys they read, so an edit that no stage reads (a misspelt
section such as `nerr:`) would otherwise run nothing and be silently ignored."""

from __future__ import annotations

from transformer_mlops.config import load_params
from transformer_mlops.runner import log, run_stage, setup_logging


def main() -> None:
    load_params()
    log.info("params.yaml: every section and key is valid")


if __name__ == "__main__":
    setup_logging()
    run_stage("check_params", main)
