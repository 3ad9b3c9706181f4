"""Extractive-QA inference without the training stack: load a saved model, answer questions
over contexts of any length (windows, best span per question, text from the original context).

Serving, `tmlops predict` and the registry import this module, so it must not import Lightning.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForQuestionAnswering, AutoTokenizer

from transformer_mlops.config import QaInference
from transformer_mlops.features.batching import model_inputs
from transformer_mlops.features.qa import best_span, collate, encode, pick_answers
from transformer_mlops.inference.saved import reading_saved_model


def load_qa_model(model_dir: str | Path):
    """A saved QA model and its tokenizer, in eval mode."""
    with reading_saved_model(model_dir):
        model = AutoModelForQuestionAnswering.from_pretrained(str(model_dir), use_safetensors=True)
        return model.eval(), AutoTokenizer.from_pretrained(str(model_dir))


@torch.inference_mode()
def answer(model, tokenizer, questions: list[str], contexts: list[str],
           settings: QaInference = QaInference(), batch_size: int = 64,
           names: list[str] | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """Per question: answer text (from the original context), character start/end and score,
    chosen over every window of its context (windows and span limits from `settings`).
    `names` say where each question comes from in an error (a question too long, too many
    windows)."""
    features = encode(tokenizer, questions, contexts, None, settings.max_length,
                      settings.doc_stride, max_windows=settings.max_windows, names=names)  # fmt: skip
    order = sorted(range(len(features)), key=lambda i: len(features[i].input_ids))
    candidates = []
    for start in range(0, len(order), batch_size):
        chunk = [features[i] for i in order[start : start + batch_size]]
        out = model(**model_inputs(collate(chunk, tokenizer.pad_token_id)))
        for row, feature in enumerate(chunk):
            candidate = best_span(feature, out.start_logits[row], out.end_logits[row],
                                  settings.n_best, settings.max_answer_length)  # fmt: skip
            if candidate is not None:
                candidates.append(candidate)
    return pick_answers(candidates, contexts)
