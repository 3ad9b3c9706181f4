"""Reading a saved model folder: any failure becomes one clear message, not a library traceback."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from transformer_mlops.errors import UserError


@contextlib.contextmanager
def reading_saved_model(model_dir: str | Path) -> Iterator[Path]:
    """Wrap the loading of `model_dir` (model.safetensors, config.json, tokenizer files)."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise UserError(
            f"{model_dir}: no saved model here; run the stage that writes it (dvc repro)"
        )
    try:
        yield model_dir
    except UserError:
        raise
    except Exception as error:  # safetensors, json, tokenizers, transformers: all mean unreadable
        raise UserError(
            f"{model_dir}: cannot read the saved model (model.safetensors, config.json, tokenizer): "
            f"{type(error).__name__}: {error}. Re-create it with `dvc repro` or fetch it with `dvc pull`."
        ) from None


def load_task_model(model_dir: str | Path, task: str, onnx: bool = True):
    """(model, tokenizer) of a saved `ner` or `qa` folder: the PyTorch model its fine-tuning
    stage saved or, with `onnx`, a `tmlops export` folder (both answer the same calls)."""
    if onnx:
        from transformer_mlops.inference.onnx import is_onnx_export, load_onnx_model

        if is_onnx_export(model_dir):
            return load_onnx_model(model_dir, task)
    if task == "ner":
        from transformer_mlops.inference.ner import load_ner_model as load
    elif task == "qa":
        from transformer_mlops.inference.qa import load_qa_model as load
    else:
        raise UserError(f"{model_dir}: unknown task {task!r}; expected 'ner' or 'qa'")
    return load(model_dir)
