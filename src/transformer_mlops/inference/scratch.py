"""The from-scratch Transformer's saved format and inference: save, load, decode (greedy or beam).

Serving, `tmlops predict` and the registry import this module, so it must not import Lightning.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import asdict
from pathlib import Path

import torch
from safetensors.torch import load_model, save_file
from tokenizers import Tokenizer

from transformer_mlops.config import ScratchInference, TransformerConfig
from transformer_mlops.errors import UserError
from transformer_mlops.features.batching import pad
from transformer_mlops.inference.saved import reading_saved_model
from transformer_mlops.io import atomic_dir
from transformer_mlops.models.tokenization import BOS_ID, EOS_ID, PAD_ID, decode_ids, load_tokenizer
from transformer_mlops.models.transformer import (
    Transformer,
    beam_search,
    build_model,
    greedy_decode,
)

NO_DATE = "no date"  # the dates generator's target for what names no day (a test checks)
ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


def unique_tensors(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The state dict with each tied tensor once, under its first name in sorted order.

    safetensors' own `save_model` records the tied names as metadata in an order that changes
    from run to run, so equal weights gave files with different hashes; `load_model` re-ties
    from the model's own structure, so no metadata is needed.
    """
    seen: set[tuple[int, tuple[int, ...]]] = set()
    tensors = {}
    for name, tensor in sorted(model.state_dict().items()):
        key = (tensor.data_ptr(), tuple(tensor.shape))
        if key not in seen:
            seen.add(key)
            tensors[name] = tensor.detach().contiguous()
    return tensors


def save_scratch_model(model: Transformer, tokenizer: Tokenizer, out_dir: str | Path) -> None:
    """models/scratch/: model.safetensors, config.json, tokenizer.json (replaced atomically)."""
    with atomic_dir(out_dir) as tmp:
        save_file(unique_tensors(model), str(tmp / "model.safetensors"))
        (tmp / "config.json").write_text(
            json.dumps(asdict(model.config), indent=2, sort_keys=True) + "\n"
        )
        tokenizer.save(str(tmp / "tokenizer.json"))


def load_scratch_model(model_dir: str | Path) -> tuple[Transformer, Tokenizer]:
    """Load what `save_scratch_model` wrote, in eval mode."""
    with reading_saved_model(model_dir) as model_dir:
        config = TransformerConfig(**json.loads((model_dir / "config.json").read_text()))
        model = build_model(config)
        load_model(model, str(model_dir / "model.safetensors"))
        return model.eval(), load_tokenizer(model_dir / "tokenizer.json")


@torch.inference_mode()
def decode(model: Transformer, src: torch.Tensor, settings: ScratchInference) -> torch.Tensor:
    """Output ids (B, T) of a padded source batch (B, S): beam search when `settings.beam_size`
    > 1, else greedy. Inputs and outputs must fit the model's positions (UserError if not)."""
    positions = model.config.max_len
    if src.size(1) > positions:
        raise UserError(f"an input of {src.size(1)} tokens is longer than the {positions} "
                        "positions the scratch model was trained with; shorten it")  # fmt: skip
    if settings.max_decode_tokens >= positions:
        raise UserError(f"seq2seq.eval.max_decode_tokens ({settings.max_decode_tokens}) must be "
                        f"less than the {positions} positions the scratch model was trained with")  # fmt: skip
    if settings.beam_size > 1:
        return beam_search(model, src, BOS_ID, EOS_ID, settings.max_decode_tokens,
                           settings.beam_size, settings.length_penalty)  # fmt: skip
    return greedy_decode(model, src, BOS_ID, EOS_ID, settings.max_decode_tokens)


def translate(model: Transformer, tokenizer: Tokenizer, texts: list[str],
              settings: ScratchInference = ScratchInference()) -> list[str]:  # fmt: skip
    """Output texts of raw input texts (the `tmlops predict scratch` and serving path)."""
    rows = [[*e.ids, EOS_ID] for e in tokenizer.encode_batch(texts)]
    for number, row in enumerate(rows, start=1):
        if len(row) > model.config.max_len:
            raise UserError(f"input {number} is {len(row)} tokens ({len(texts[number - 1])} "
                            f"characters); the scratch model reads at most {model.config.max_len}. "
                            "Shorten it")  # fmt: skip
    src = pad(rows, PAD_ID)
    return [
        checked(decode_ids(tokenizer, row.tolist()), settings)
        for row in decode(model, src, settings)
    ]


def checked(output: str, settings: ScratchInference) -> str:
    """The decoded `output`, or `no date` where the settings decline impossible dates and the
    output is shaped like an ISO date that names no real day."""
    match = ISO_DATE.fullmatch(output) if settings.decline_impossible_dates else None
    if match:
        try:
            dt.date(*map(int, match.groups()))
        except ValueError:
            return NO_DATE
    return output
