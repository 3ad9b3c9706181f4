"""`tmlops`: the project's command line (stages by hand, and later predict / serve / compare)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from transformer_mlops import __version__
from transformer_mlops.config import (
    TASKS,
    InferenceSettings,
    NerInference,
    QaInference,
    ScratchInference,
    load_params,
)
from transformer_mlops.runner import run_user_command, setup_logging

app = typer.Typer(help="transformer-mlops: DVC + MLflow + Lightning for Transformer models.",
                  no_args_is_help=True, pretty_exceptions_enable=False)  # fmt: skip

# The from-scratch task has two names: its params section and data folder say `seq2seq`, its
# model, MLflow experiment and registered model say `scratch`. Every command takes either.
DATA_TASK, MODEL_TASK = {"scratch": "seq2seq"}, {"seq2seq": "scratch"}
TaskArg = Annotated[str, typer.Argument(help=f"one of {', '.join(TASKS)} (scratch = seq2seq)",
                                        callback=lambda name: DATA_TASK.get(name, name))]  # fmt: skip
ParamsOpt = Annotated[str, typer.Option("--params", help="params file")]
SettingsParamsOpt = Annotated[
    str | None,
    typer.Option("--params", help="params file with the inference settings (default: "
                 "params.yaml when present, else the defaults); a registered model has its own"),
]  # fmt: skip
Settings = TypeVar("Settings", bound=InferenceSettings)


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


predict_app = typer.Typer(help="Predict with a trained model.", no_args_is_help=True)
app.add_typer(predict_app, name="predict")


def _require_text(texts: list[str], command: str) -> None:
    from transformer_mlops.errors import UserError

    if not all(t.strip() for t in texts):
        raise UserError(f"{command}: empty text; give at least one non-blank input")
    for text in texts:  # Python keeps bytes that are not UTF-8 as lone surrogates U+DC80-DCFF
        byte = next((ord(c) - 0xDC00 for c in text if "\udc80" <= c <= "\udcff"), None)
        if byte is not None:
            raise UserError(f"{command}: an argument is not UTF-8 text (byte 0x{byte:02x}); give "
                            "UTF-8 (check the terminal's encoding, e.g. LANG=C.UTF-8)")  # fmt: skip


def _settings(kind: type[Settings], task: str, params: str | None) -> Settings:
    """The task's inference settings from a params file; the defaults outside a project."""
    if params is None:
        if not Path("params.yaml").is_file():
            return kind()
        params = "params.yaml"
    loaded = load_params(params)
    return kind.of(loaded.seq2seq.eval if task == "seq2seq" else loaded.task(task))


def _is_registry_uri(model: str, *settings_options: object) -> bool:
    """Whether `model` names a registered model; those carry their own inference settings, so
    options that set them are refused rather than silently ignored."""
    registered = model.startswith(("models:/", "runs:/"))
    if registered and any(option is not None for option in settings_options):
        from transformer_mlops.errors import UserError

        raise UserError(f"{model}: a registered model carries its own inference settings (its "
                        "model_config); --params and --max-tokens apply to a local model folder")  # fmt: skip
    return registered


def _predict_registered(model: str, inputs: list) -> list:
    """Predict through the registered pyfunc (e.g. models:/ner@champion), checked before it is
    loaded (`tracking.verified`)."""
    from mlflow.exceptions import MlflowException

    from transformer_mlops.errors import UserError
    from transformer_mlops.tracking.verified import load_registered

    loaded = load_registered(model)
    try:
        results = loaded.predict(inputs)
    except MlflowException as error:  # e.g. a request over the served model's size limits
        raise UserError(f"{model}: {error.message}") from None
    return [r.model_dump() if hasattr(r, "model_dump") else r for r in results]


@predict_app.command("seq2seq", hidden=True)  # the same task under its params name
@predict_app.command("scratch")
def predict_scratch(
    texts: Annotated[list[str], typer.Argument(help="input text(s), e.g. '3rd of March 1987'")],
    model: Annotated[
        str, typer.Option(help="directory written by train_scratch, or models:/scratch@champion")
    ] = "models/scratch",
    max_tokens: Annotated[
        int | None,
        typer.Option(min=1, help="longest output (default: seq2seq.eval.max_decode_tokens)"),
    ] = None,
    params: SettingsParamsOpt = None,
) -> None:
    """Normalise/translate text with the from-scratch Transformer (decoded as seq2seq.eval says)."""
    from transformer_mlops.errors import UserError

    def work() -> None:
        _require_text(texts, "predict scratch")
        if _is_registry_uri(model, params, max_tokens):
            for text, output in zip(texts, _predict_registered(model, texts), strict=True):
                typer.echo(json.dumps({"input": text, "output": output}, ensure_ascii=False))
            return
        from transformer_mlops.inference.scratch import load_scratch_model, translate

        settings = _settings(ScratchInference, "seq2seq", params)
        if max_tokens is not None:
            settings = ScratchInference.model_validate(
                {**settings.model_dump(), "max_decode_tokens": max_tokens}
            )
        try:
            loaded, tokenizer = load_scratch_model(model)
        except FileNotFoundError as error:
            raise UserError(f"{model}: no trained scratch model there ({error.filename} missing); "
                            "run `dvc repro train_scratch` first") from None  # fmt: skip
        for text, output in zip(texts, translate(loaded, tokenizer, texts, settings), strict=True):
            typer.echo(json.dumps({"input": text, "output": output}, ensure_ascii=False))

    run_user_command(work)


@predict_app.command("ner")
def predict_ner(
    texts: Annotated[
        list[str], typer.Argument(help="sentence(s), e.g. 'Angela Merkel met Tim Cook in Paris.'")
    ],
    model: Annotated[
        str,
        typer.Option(
            help="directory written by finetune_ner or `tmlops export ner`, or models:/ner@champion"
        ),
    ] = "models/ner",
    params: SettingsParamsOpt = None,
) -> None:
    """Entity spans (text, type, start, end, score) with character offsets into each input."""

    def work() -> None:
        _require_text(texts, "predict ner")
        if _is_registry_uri(model, params):
            for result in _predict_registered(model, texts):
                typer.echo(json.dumps(result, ensure_ascii=False))
            return
        from transformer_mlops.inference.loading import load_task_model
        from transformer_mlops.inference.ner import predict_spans

        settings = _settings(NerInference, "ner", params)
        loaded, tokenizer = load_task_model(model, "ner")
        found = predict_spans(loaded, tokenizer, texts, settings)
        for text, entities in zip(texts, found, strict=True):
            typer.echo(json.dumps({"text": text, "entities": entities}, ensure_ascii=False))

    run_user_command(work)


@predict_app.command("qa")
def predict_qa(
    questions: Annotated[list[str], typer.Argument(help="question(s) about the context")],
    context: Annotated[str, typer.Option("--context", help="the text to answer from")],
    model: Annotated[
        str,
        typer.Option(
            help="directory written by finetune_qa or `tmlops export qa`, or models:/qa@champion"
        ),
    ] = "models/qa",
    params: SettingsParamsOpt = None,
) -> None:
    """Answer text, character span (start, end) in the context and score, per question.
    Contexts longer than one window are read window by window (qa.max_length, qa.doc_stride)."""

    def work() -> None:
        _require_text([*questions, context], "predict qa")
        if _is_registry_uri(model, params):
            asked = [{"question": q, "context": context} for q in questions]
            for question, result in zip(questions, _predict_registered(model, asked), strict=True):
                typer.echo(json.dumps({"question": question, **result}, ensure_ascii=False))
            return
        from transformer_mlops.inference.loading import load_task_model
        from transformer_mlops.inference.qa import answer

        settings = _settings(QaInference, "qa", params)
        loaded, tokenizer = load_task_model(model, "qa")
        found = answer(loaded, tokenizer, questions, [context] * len(questions), settings)
        for question, result in zip(questions, found, strict=True):
            typer.echo(json.dumps({"question": question, **result}, ensure_ascii=False))

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
