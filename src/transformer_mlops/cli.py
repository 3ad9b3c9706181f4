"""`tmlops`: the project's command line: stages by hand, the registry, serving, comparison,
profiles and recipes (`tmlops predict` lives in cli_predict.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from transformer_mlops import __version__
from transformer_mlops.cli_predict import predict_app
from transformer_mlops.config import (
    TASKS,
    load_params,
)
from transformer_mlops.runner import run_user_command, setup_logging

app = typer.Typer(help="transformer-mlops: DVC + MLflow + Lightning for Transformer models.",
                  no_args_is_help=True, pretty_exceptions_enable=False)  # fmt: skip
app.add_typer(predict_app, name="predict")

# The from-scratch task has two names: its params section and data folder say `seq2seq`, its
# model, MLflow experiment and registered model say `scratch`. Every command takes either.
DATA_TASK, MODEL_TASK = {"scratch": "seq2seq"}, {"seq2seq": "scratch"}
TaskArg = Annotated[str, typer.Argument(help=f"one of {', '.join(TASKS)} (scratch = seq2seq)",
                                        callback=lambda name: DATA_TASK.get(name, name))]  # fmt: skip
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
    """Prepare and validate one task's data (what the `prepare@<task>` stage runs)."""
    from transformer_mlops.data.prepare import prepare as prepare_task

    def work() -> None:
        from transformer_mlops.outputs import kept_on_failure, stage_outputs

        cfg = load_params(params).task(task).data
        with kept_on_failure(stage_outputs(f"prepare@{task}")):  # as the stage: all or nothing
            stats = prepare_task(task, cfg, f"data/prepared/{task}",
                                 f"reports/validation/{task}.json", f"reports/validation/docs/{task}")  # fmt: skip
        typer.echo(json.dumps({s: i["rows"] for s, i in stats["splits"].items()}))

    run_user_command(work)


@app.command()
def validate(task: TaskArg, params: ParamsOpt = "params.yaml") -> None:
    """Validate one task's prepared data with Great Expectations."""
    from transformer_mlops.data.validation import validate as validate_task

    def work() -> None:
        from transformer_mlops.config import SPLITS
        from transformer_mlops.errors import UserError
        from transformer_mlops.io import read_jsonl

        cfg = load_params(params).task(task).data
        prepared = Path("data/prepared") / task
        if not prepared.is_dir():
            raise UserError(f"{prepared}: no prepared data; run `dvc repro prepare@{task}`")
        splits = {split: read_jsonl(prepared / f"{split}.jsonl") for split in SPLITS}
        report = validate_task(task, cfg, splits, f"reports/validation/{task}.json",
                               f"reports/validation/docs/{task}")  # fmt: skip
        typer.echo(f"{task}: {report['checks']} checks passed")

    run_user_command(work)


ModelTask = Annotated[str, typer.Argument(help="scratch (= seq2seq), ner or qa (the registered model)",
                                          callback=lambda name: MODEL_TASK.get(name, name))]  # fmt: skip


@app.command()
def export(
    task: Annotated[str, typer.Argument(help="ner or qa")],
    model: Annotated[
        str | None, typer.Option(help="saved model directory (default models/<task>)")
    ] = None,
    out: Annotated[
        str | None, typer.Option(help="output directory (default models/onnx/<task>)")
    ] = None,
) -> None:
    """Export a fine-tuned model to ONNX (+ tokenizer) for onnxruntime; `tmlops predict <task>
    --model <out>` then runs it with the same pre- and post-processing."""

    def work() -> None:
        from transformer_mlops.inference.onnx import export_onnx

        written = export_onnx(task, model or f"models/{task}", out or f"models/onnx/{task}")
        typer.echo(
            f"wrote {written}/model.onnx (onnxruntime: tmlops predict {task} --model {written})"
        )

    run_user_command(work)


def _registered_task(task: str) -> str:
    from transformer_mlops.errors import UserError
    from transformer_mlops.tracking.registry import GATES

    if task not in GATES:
        raise UserError(f"unknown model {task!r}; expected one of {list(GATES)}")
    return task


@app.command()
def rollback(task: ModelTask) -> None:
    """Move the `champion` alias back to the previous champion (recorded in the registry)."""

    def work() -> None:
        from transformer_mlops.tracking.registry import rollback as roll_back

        move = roll_back(_registered_task(task))
        typer.echo(json.dumps(move))

    run_user_command(work)


@app.command()
def promote(
    task: ModelTask,
    version: Annotated[str, typer.Argument(help="the registered version to make champion")],
    why: Annotated[str, typer.Option("--why", help="the reason, kept in the alias history")],
) -> None:
    """Move the `champion` alias to a version by hand (the gate only compares models measured
    on the same test data)."""

    def work() -> None:
        from transformer_mlops.tracking.registry import promote as promote_version

        move = promote_version(_registered_task(task), version, why)
        typer.echo(json.dumps(move))

    run_user_command(work)


@app.command()
def serve(
    task: ModelTask,
    alias: Annotated[str, typer.Option(help="registry alias to serve")] = "champion",
    host: Annotated[str, typer.Option(help="bind address (loopback by default)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 5001,
) -> None:
    """Serve a registered model over HTTP: POST /invocations with {"inputs": [...]} (MLflow's
    scoring protocol), with limits on body size, characters, waiting requests and time."""

    def work() -> None:
        from transformer_mlops.tracking.scoring import serve as serve_model

        serve_model(f"models:/{_registered_task(task)}@{alias}", host, port)

    run_user_command(work)


@app.command()
def compare(
    task: ModelTask,
    limit: Annotated[int, typer.Option(help="most recent runs to show")] = 20,
    plot: Annotated[str, typer.Option(help="where to write the plot")] = "",
) -> None:
    """The task's MLflow runs, best first: params that differ, key metric, throughput."""

    def work() -> None:
        from transformer_mlops.tracking.compare import format_table, plot_runs, runs_table

        rows, differing, key = runs_table(_registered_task(task), limit)
        typer.echo(format_table(rows))
        if rows:
            path = plot or f"reports/plots/compare/{task}.png"
            plot_runs(rows, key, path)
            typer.echo(f"\n{len(rows)} runs; params that differ: {', '.join(differing) or 'none'}; "
                       f"plot: {path}")  # fmt: skip

    run_user_command(work)


@app.command()
def profile(
    overlay: Annotated[
        str,
        typer.Argument(help="partial params file: a recipe (recipes/*.yaml) or .ci/params-ci.yaml"),
    ],
    params: ParamsOpt = "params.yaml",
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set", "-S", help="KEY=VALUE over the profile, e.g. ner.data.files.train=PATH"
        ),
    ] = None,
) -> None:
    """Merge a params profile into params.yaml (then `dvc repro` runs with it)."""

    def work() -> None:
        from transformer_mlops.profiles import apply_profile

        apply_profile(overlay, params, tuple(set_ or ()))
        typer.echo(f"{params}: {overlay} applied; `dvc repro` (or `dvc exp run`) runs with it")

    run_user_command(work)


recipes_app = typer.Typer(help="The real-data recipes (recipes/*.yaml).")
app.add_typer(recipes_app, name="recipes")


@recipes_app.callback(invoke_without_command=True)
def recipes(
    ctx: typer.Context,
    folder: Annotated[str, typer.Option(help="folder of recipe files")] = "recipes",
) -> None:
    """List the real-data recipes, their datasets and recorded results."""
    if ctx.invoked_subcommand is not None:
        return

    def work() -> None:
        from transformer_mlops.recipes import list_recipes, missing_files, result_line

        found = list_recipes(folder)
        if not found:
            typer.echo(f"{folder}: no recipes (*.yaml)")
        for recipe in found:
            absent = missing_files(recipe.overlay, [recipe.about["task"]], Path.cwd())
            typer.echo(f"{recipe.name} ({recipe.about['task']}): {recipe.about['dataset']}"
                       f"{'  [data files not here: see get]' if absent else ''}\n"
                       f"    get: {recipe.about['get']}\n    test: {recipe.about['split']}\n"
                       f"    recorded: {result_line(recipe)}\n"
                       f"    run: tmlops profile {recipe.path} && dvc exp run")  # fmt: skip

    run_user_command(work)


@recipes_app.command("record")
def recipes_record(
    name: Annotated[str, typer.Argument(help="the recipe, e.g. conll2003")],
    folder: Annotated[str, typer.Option(help="folder of recipe files")] = "recipes",
    params: ParamsOpt = "params.yaml",
) -> None:
    """After `tmlops profile recipes/NAME.yaml` and `dvc repro`: record the run's test scores,
    training time and machine in the recipe and reports/recipes/NAME.json."""

    def work() -> None:
        from transformer_mlops.recipes import load_recipe, record, result_line

        recipe = load_recipe(Path(folder) / f"{name}.yaml")
        record(recipe, params)
        typer.echo(f"{recipe.path}: recorded {result_line(load_recipe(recipe.path))}")

    run_user_command(work)


@app.command("check-metrics")
def check_metrics(
    expected: Annotated[
        str, typer.Option(help="folder of committed metrics files")
    ] = ".ci/expected-metrics",
    tolerance: Annotated[float, typer.Option(help="relative: 0 exact, 0.02 = 2%")] = 0.0,
    summary: Annotated[
        str, typer.Option(help="append a Markdown table here (e.g. $GITHUB_STEP_SUMMARY)")
    ] = "",
) -> None:
    """Compare reports/metrics/ with committed metrics; exit 1 on drift beyond the tolerance."""

    def work() -> bool:
        from transformer_mlops.profiles import check_metrics as compare_metrics
        from transformer_mlops.profiles import markdown_table

        ok, rows = compare_metrics(expected, "reports/metrics", tolerance)
        table = markdown_table(rows, tolerance)
        typer.echo(table)
        if summary:
            with open(summary, "a", encoding="utf-8") as out:
                out.write(table)
        return ok

    if not run_user_command(work):
        typer.echo(
            "error: reproduced metrics drifted beyond the tolerance (rows marked DRIFT)", err=True
        )
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
