"""NER inference without the training stack: load a saved model, tag words, find spans.

Serving, `tmlops predict` and the registry import this module, so it must not import Lightning.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForTokenClassification, AutoTokenizer

from transformer_mlops.config import NerInference
from transformer_mlops.features.batching import IGNORE, model_inputs
from transformer_mlops.features.ner import (
    collate,
    encode,
    reads_word_case,
    spans,
    words_with_offsets,
)
from transformer_mlops.inference.saved import reading_saved_model


def load_ner_model(model_dir: str | Path):
    """A saved NER model and its tokenizer, in eval mode."""
    with reading_saved_model(model_dir):
        model = AutoModelForTokenClassification.from_pretrained(
            str(model_dir), use_safetensors=True
        )
        return model.eval(), AutoTokenizer.from_pretrained(str(model_dir))


@torch.inference_mode()
def tag_words(model, tokenizer, sentences: list[list[str]], settings: NerInference = NerInference(),
              batch_size: int = 64) -> list[tuple[list[str], list[float]]]:  # fmt: skip
    """Per sentence of words: (IOB2 label per word, probability of that label)."""
    id2label = model.config.id2label
    features, _ = encode(tokenizer, sentences, None, {label: i for i, label in id2label.items()},
                         settings.max_length, with_case=reads_word_case(model.config))  # fmt: skip
    # Words the tokenizer turns into nothing (e.g. a lone zero-width character) have no
    # subword to predict from: they stay "O", so every sentence keeps one label per word.
    labels = [["O"] * len(words) for words in sentences]
    scores = [[1.0] * len(words) for words in sentences]
    order = sorted(range(len(features)), key=lambda i: len(features[i].input_ids))
    for start in range(0, len(order), batch_size):
        batch_features = [features[i] for i in order[start : start + batch_size]]
        batch = collate(batch_features, tokenizer.pad_token_id)
        probs = model(**model_inputs(batch)).logits.float().softmax(-1)
        best, chosen = probs.max(-1)
        for row, feature in enumerate(batch_features):
            for position in (batch["labels"][row] != IGNORE).nonzero().flatten().tolist():
                word = feature.first_word + feature.word_ids[position]
                labels[feature.example][word] = id2label[int(chosen[row][position])]
                scores[feature.example][word] = float(best[row][position])
    return list(zip(labels, scores, strict=True))


def predict_spans(
    model, tokenizer, texts: list[str], settings: NerInference = NerInference()
) -> list[list[dict[str, Any]]]:
    """Entity spans (text, type, start, end, score) of raw texts, offsets into the original text."""
    split = [words_with_offsets(tokenizer, text) for text in texts]
    tagged = tag_words(model, tokenizer, [[w for w, _ in words] for words in split], settings)
    return [
        spans(text, [offset for _, offset in words], labels, scores)
        for text, words, (labels, scores) in zip(texts, split, tagged, strict=True)
    ]
