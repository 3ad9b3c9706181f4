"""`tmlops`: the project's command line (stages by hand, and later predict / serve / compare)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from transformer_mlops import __version__
from transformer_mlops.config import TASKS, load_params
from transformer_mlops.runner import run_user_command, setup_logging

app = typer.Typer(help="transformer-mlops: DVC + MLflow + Lightning for Transformer models.",
                  no_args_is_help=True, pretty_exceptions_enable=False)  # fmt: skip

TaskArg = Annotated[str, typer.Argument(help=f"one of {', '.join(TASKS)}")]
ParamsOpt = Annotated[str, typer.Option("--params", help="params file")]


@app.callback()
def _main() -> None:
    setup_logging()


@app.command()
def version() -> None:
    """Print the package version."""
    typer.echo(__version__)


@app.command()
def prepare(task: TaskArg, params: ParamsOpt = "params.yaml") -> None:
    """Prepare one task's data (what the `prepare@<task>` stage runs)."""
    from transformer_mlops.data.prepare import prepare as prepare_task

    def work() -> None:
        cfg = load_params(params).task(task).data
        stats = prepare_task(task, cfg, f"data/prepared/{task}")
        typer.echo(json.dumps({s: i["rows"] for s, i in stats["splits"].items()}))

    run_user_command(work)


@app.command()
def validate(task: TaskArg, params: ParamsOpt = "params.yaml") -> None:
    """Validate one task's prepared data with Great Expectations."""
    from transformer_mlops.data.validation import validate as validate_task

    def work() -> None:
        cfg = load_params(params).task(task).data
        report = validate_task(task, cfg, f"data/prepared/{task}",
                               f"reports/validation/{task}.json", f"reports/validation/docs/{task}")  # fmt: skip
        typer.echo(f"{task}: {report['checks']} checks passed")

    run_user_command(work)


if __name__ == "__main__":
    app()
