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
