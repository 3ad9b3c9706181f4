"""Loading a saved NER or QA model by task: the PyTorch folder its fine-tuning stage saved, or a
`tmlops export` ONNX folder (both answer the same calls)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from transformer_mlops.errors import UserError
from transformer_mlops.inference.onnx import PYTORCH_LOADERS, is_onnx_export, load_onnx_model


def load_task_model(model_dir: str | Path, task: str) -> tuple[Any, Any]:
    """(model, tokenizer) of a saved `ner` or `qa` folder, PyTorch or ONNX."""
    if task not in PYTORCH_LOADERS:
        raise UserError(f"{model_dir}: unknown task {task!r}; expected 'ner' or 'qa'")
    if is_onnx_export(model_dir):
        return load_onnx_model(model_dir, task)
    return PYTORCH_LOADERS[task](model_dir)
