"""NER features: word-to-subword label alignment, windows for long sentences, entity spans.

Pure functions over a fast Hugging Face tokenizer, so the training, evaluation, prediction and
serving paths share one implementation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from transformer_mlops.features.batching import IGNORE, pad  # IGNORE: subwords, specials, padding


@dataclass
class Feature:
    """One model input: a window of a sentence's words, tokenised, with aligned labels."""

    example: int  # index of the sentence it came from
    first_word: int  # index of its first word in that sentence
    input_ids: list[int]
    word_ids: list[int | None]  # word index (within the window) of each subword
    labels: list[int]
    case_ids: list[int] | None = None  # WORD_CASES index of each subword's word (0 on specials)


# Word casing, for encoders whose tokenizer lower-cases (e.g. MiniLM): "Apple" and "apple" become
# the same subwords, yet capitals are much of what marks a name. With `ner.word_case` each
# subword's token-type id says its word's casing, so the model sees it through the type
# embeddings it already has (no new input, and `transformers.pipeline` still loads the model).
WORD_CASES = ("other", "Title", "UPPER", "mIxed")  # other: no capitals (lower case, digits, marks)
WORD_CASE_KEY = "word_case_in_token_types"  # set in a model's config.json when it was trained so


def reads_word_case(config) -> bool:
    """Whether a model (by its Hugging Face config) was trained with word casing as token types."""
    return bool(getattr(config, WORD_CASE_KEY, False))


def word_case(word: str) -> int:
    """The WORD_CASES index of a word: Title (first letter a capital), UPPER (two or more letters,
    all capitals), mIxed (a capital after a first small letter), else other."""
    letters = [c for c in word if c.isalpha()]
    if not any(c.isupper() for c in letters):
        return 0
    if len(letters) > 1 and all(c.isupper() for c in letters):
        return 2
    return 1 if letters[0].isupper() else 3


def collate(features: list[Feature], pad_id: int) -> dict[str, torch.Tensor]:
    """Dynamic padding of a batch of features; keeps where each came from for decoding."""
    input_ids = pad([f.input_ids for f in features], pad_id)
    batch = {
        "input_ids": input_ids,
        "attention_mask": pad([[1] * len(f.input_ids) for f in features], 0),
        "labels": pad([f.labels for f in features], IGNORE),
        "example": torch.tensor([f.example for f in features]),
        "first_word": torch.tensor([f.first_word for f in features]),
    }
    if features and features[0].case_ids is not None:
        batch["token_type_ids"] = pad([f.case_ids for f in features], 0)
    return batch


def align_labels(word_ids: list[int | None], word_labels: list[int], begin_to_inside: dict[int, int],
                 label_all_subwords: bool = False) -> list[int]:  # fmt: skip
    """Label per subword: the word's label on its first subword; the others get IGNORE, or with
    `label_all_subwords` the word's label (B-X continuing as I-X). Special tokens get IGNORE."""
    labels, previous = [], None
    for word in word_ids:
        if word is None:
            labels.append(IGNORE)
        elif word != previous:
            labels.append(word_labels[word])
        elif label_all_subwords:
            label = word_labels[word]
            labels.append(begin_to_inside.get(label, label))
        else:
            labels.append(IGNORE)
        previous = word
    return labels


def windows(word_lengths: list[int], budget: int) -> list[tuple[int, int]]:
    """Cut a sentence into consecutive word ranges whose subword counts fit `budget`."""
    ranges, start, used = [], 0, 0
    for i, length in enumerate(word_lengths):
        if used + length > budget and i > start:
            ranges.append((start, i))
            start, used = i, 0
        used += length
    ranges.append((start, len(word_lengths)))
    return ranges


def encode(tokenizer, sentences: list[list[str]], tags: list[list[str]] | None, label2id: dict[str, int],
           max_length: int, label_all_subwords: bool = False,
           with_case: bool = False) -> tuple[list[Feature], int]:  # fmt: skip
    """Features of whole sentences; sentences longer than `max_length` subwords are split into
    windows (never silently truncated); `with_case` adds each subword's word casing
    (`case_ids`). Returns (features, number of sentences split)."""
    begin_to_inside = {
        label2id[name]: label2id.get("I-" + name[2:], label2id[name])
        for name in label2id
        if name.startswith("B-")
    }
    budget = max_length - tokenizer.num_special_tokens_to_add(pair=False)
    features, split = [], 0
    pieces = tokenizer(sentences, is_split_into_words=True, add_special_tokens=False)
    for index, words in enumerate(sentences):
        word_ids = pieces.word_ids(index)
        lengths = [0] * len(words)
        for word in word_ids:
            lengths[word] += 1
        ranges = windows(lengths, budget)
        split += len(ranges) > 1
        for start, end in ranges:
            encoded = tokenizer(words[start:end], is_split_into_words=True, truncation=False)
            window_word_ids = encoded.word_ids()
            cases = [word_case(w) for w in words[start:end]] if with_case else None
            word_labels = (
                [label2id[t] for t in tags[index][start:end]]
                if tags is not None
                else [0] * (end - start)
            )
            features.append(
                Feature(
                    example=index,
                    first_word=start,
                    input_ids=encoded["input_ids"],
                    word_ids=window_word_ids,
                    labels=align_labels(
                        window_word_ids, word_labels, begin_to_inside, label_all_subwords
                    ),
                    case_ids=None
                    if cases is None
                    else [0 if w is None else cases[w] for w in window_word_ids],
                )
            )
    return features, split


def words_with_offsets(tokenizer, text: str) -> list[tuple[str, tuple[int, int]]]:
    """Split raw text into words (whitespace and punctuation, as the tokenizer does) with their
    character offsets in the original string."""
    return tokenizer.backend_tokenizer.pre_tokenizer.pre_tokenize_str(text)


def spans(
    text: str, offsets: list[tuple[int, int]], labels: list[str], scores: list[float]
) -> list[dict[str, Any]]:
    """Entity spans from per-word IOB2 labels: text (original casing), type, start, end, score
    (mean over the entity's words). An I-X that does not continue an X starts a new entity."""
    entities: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    for (start, end), label, score in zip(offsets, labels, scores, strict=True):
        kind = label[2:] if label != "O" else None
        continues = current is not None and label.startswith("I-") and kind == current["type"]
        if continues:
            current["end"] = end
            current["scores"].append(score)
            continue
        if current is not None:
            entities.append(current)
            current = None
        if kind is not None:
            current = {"type": kind, "start": start, "end": end, "scores": [score]}
    if current is not None:
        entities.append(current)
    return [
        {
            "text": text[e["start"] : e["end"]],
            "type": e["type"],
            "start": e["start"],
            "end": e["end"],
            "score": round(sum(e["scores"]) / len(e["scores"]), 4),
        }
        for e in entities
    ]
