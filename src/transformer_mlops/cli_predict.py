"""`tmlops predict scratch|ner|qa`: a local model folder or a registered model, its inference
settings from params.yaml (or the registered model's own), one JSON line per input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from transformer_mlops.config import (
    InferenceSettings,
    NerInference,
    QaInference,
    ScratchInference,
    load_params,
)
from transformer_mlops.runner import run_user_command

SettingsParamsOpt = Annotated[
    str | None,
    typer.Option("--params", help="params file with the inference settings (default: "
                 "params.yaml when present, else the defaults); a registered model has its own"),
]  # fmt: skip
Settings = TypeVar("Settings", bound=InferenceSettings)


predict_app = typer.Typer(help="Predict with a trained model.", no_args_is_help=True)


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
