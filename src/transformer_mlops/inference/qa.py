"""Extractive-QA inference without the training stack: load a saved model, answer questions
over contexts of any length (windows, best span per question, text from the original context).

Serving, `tmlops predict` and the registry import this module, so it must not import Lightning.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForQuestionAnswering, AutoTokenizer

from transformer_mlops.inference.saved import reading_saved_model
from transformer_mlops.tasks.batching import pad
from transformer_mlops.tasks.qa_features import IGNORE, QaFeature, best_span, encode, pick_answers

# Batches padded to a multiple of 8 tokens: aligned shapes run faster in oneDNN's bf16 CPU
# kernels (and on GPU tensor cores). Measured on 200 bf16 training batches of the default QA
# data, 2 cores: 22-24 s against 28-32 s padded to the longest.
PAD_MULTIPLE = 8


def collate(features: list[QaFeature], pad_id: int) -> dict[str, torch.Tensor]:
    """Dynamic padding; `feature` indexes the batch rows back to their windows for decoding."""
    batch = {
        "input_ids": pad([f.input_ids for f in features], pad_id, PAD_MULTIPLE),
        "attention_mask": pad([[1] * len(f.input_ids) for f in features], 0, PAD_MULTIPLE),
        "start_positions": torch.tensor([f.start_position for f in features]),
        "end_positions": torch.tensor([f.end_position for f in features]),
    }
    if features[0].token_type_ids is not None:
        batch["token_type_ids"] = pad([f.token_type_ids for f in features], 0, PAD_MULTIPLE)
    if any(f.evidence_labels is not None for f in features):
        batch["evidence_labels"] = pad(
            [f.evidence_labels or [IGNORE] * len(f.input_ids) for f in features],
            IGNORE,
            PAD_MULTIPLE,
        )
    return batch


def model_inputs(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The tensors the model takes (labels and bookkeeping left out)."""
    return {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in batch}


def load_qa_model(model_dir: str | Path):
    """A saved QA model and its tokenizer, in eval mode."""
    with reading_saved_model(model_dir):
        model = AutoModelForQuestionAnswering.from_pretrained(str(model_dir), use_safetensors=True)
        return model.eval(), AutoTokenizer.from_pretrained(str(model_dir))


@torch.inference_mode()
def answer(model, tokenizer, questions: list[str], contexts: list[str], max_length: int = 384,
           doc_stride: int = 128, n_best: int = 20, max_answer_length: int = 30,
           batch_size: int = 64) -> list[dict[str, Any]]:  # fmt: skip
    """Per question: answer text (from the original context), character start/end and score,
    chosen over every window of its context."""
    features = encode(tokenizer, questions, contexts, None, max_length, doc_stride)
    order = sorted(range(len(features)), key=lambda i: len(features[i].input_ids))
    candidates = []
    for start in range(0, len(order), batch_size):
        chunk = [features[i] for i in order[start : start + batch_size]]
        out = model(**model_inputs(collate(chunk, tokenizer.pad_token_id)))
        for row, feature in enumerate(chunk):
            candidate = best_span(feature, out.start_logits[row], out.end_logits[row], n_best,
                                  max_answer_length)  # fmt: skip
            if candidate is not None:
                candidates.append(candidate)
    return pick_answers(candidates, contexts)
