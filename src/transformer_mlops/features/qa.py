"""Extractive-QA features and post-processing: question + context windows, span selection.

Pure functions over a fast Hugging Face tokenizer, shared by training, evaluation, prediction
and serving. A context longer than one window is cut into overlapping windows (`doc_stride`
tokens of overlap); each window knows its example and the character offsets of its context
tokens, so a span chosen in any window maps back to the ORIGINAL context text.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from transformer_mlops.errors import DataError
from transformer_mlops.features.batching import IGNORE, pad  # IGNORE: outside the context

log = logging.getLogger(__name__)

CLS_INDEX = 0  # windows without the answer point start and end here (SQuAD v1.1 convention)


@dataclass
class QaFeature:
    """One model input: the question and one window of the context."""

    example: int  # index of the question it came from
    input_ids: list[int]
    token_type_ids: list[int] | None
    offsets: list[tuple[int, int] | None]  # character span in the context; None outside it
    start_position: int = CLS_INDEX
    end_position: int = CLS_INDEX
    evidence_labels: list[int] | None = None  # per token: 1 inside an evidence span, 0 not, IGNORE


# Batches padded to a multiple of 8 tokens: aligned shapes run faster in oneDNN's bf16 CPU
# kernels (and on GPU tensor cores). Measured on 200 bf16 training batches of the default QA
# data, 2 cores: 22-24 s against 28-32 s padded to the longest.
PAD_MULTIPLE = 8


def collate(
    features: list[QaFeature], pad_id: int, multiple_of: int = PAD_MULTIPLE
) -> dict[str, torch.Tensor]:
    """Dynamic padding of a batch of windows, with their span and evidence labels."""
    batch = {
        "input_ids": pad([f.input_ids for f in features], pad_id, multiple_of),
        "attention_mask": pad([[1] * len(f.input_ids) for f in features], 0, multiple_of),
        "start_positions": torch.tensor([f.start_position for f in features]),
        "end_positions": torch.tensor([f.end_position for f in features]),
    }
    if features[0].token_type_ids is not None:
        batch["token_type_ids"] = pad([f.token_type_ids for f in features], 0, multiple_of)
    if any(f.evidence_labels is not None for f in features):
        batch["evidence_labels"] = pad(
            [f.evidence_labels or [IGNORE] * len(f.input_ids) for f in features],
            IGNORE,
            multiple_of,
        )
    return batch


def evidence_labels(offsets: list[tuple[int, int] | None], spans: list[list[int]]) -> list[int]:
    """Per token of a window: 1 if its characters fall inside one of the evidence `spans`
    ([start, end) in the context), 0 for other context tokens, IGNORE outside the context."""
    return [
        IGNORE if span is None else int(any(start <= span[0] < end for start, end in spans))
        for span in offsets
    ]


def _answer_tokens(offsets: list[tuple[int, int] | None], start_char: int, end_char: int):
    """Token indices (first, last) of a character span inside this window, or None."""
    context = [i for i, span in enumerate(offsets) if span is not None]
    if not context:
        return None
    if offsets[context[0]][0] > start_char or offsets[context[-1]][1] < end_char:
        return None  # the answer is not wholly inside this window
    first = next(i for i in context if offsets[i][1] > start_char)
    last = next(i for i in reversed(context) if offsets[i][0] < end_char)
    return first, last


def check_questions_fit(tokenizer, questions: list[str], max_length: int, doc_stride: int,
                        names: list[str] | None = None) -> None:  # fmt: skip
    """Each question must leave more than `doc_stride` tokens of its window to the context
    (else the tokenizer panics: windows could not advance); the error names the question."""
    room = max_length - tokenizer.num_special_tokens_to_add(pair=True) - doc_stride - 1
    lengths = [len(ids) for ids in tokenizer(questions, add_special_tokens=False)["input_ids"]]
    for index, length in enumerate(lengths):
        if length > room:
            raise DataError(
                f"{_name(names, index)}: the question is {length} subwords; with qa.max_length "
                f"{max_length} and qa.doc_stride {doc_stride} at most {room} fit. Shorten the "
                "question or raise qa.max_length"
            )


def _name(names: list[str] | None, index: int) -> str:
    return names[index] if names else f"question {index + 1}"


def encode(tokenizer, questions: list[str], contexts: list[str], answers: list[dict] | None,
           max_length: int, doc_stride: int,
           evidence: list[list[list[int]] | None] | None = None, max_windows: int | None = None,
           names: list[str] | None = None) -> list[QaFeature]:  # fmt: skip
    """Windows of (question, context) pairs. Only the context is truncated; consecutive windows
    overlap by `doc_stride` tokens. With `answers` (SQuAD shape: text + answer_start lists, the
    first answer is the training target) each window gets start/end token labels, or CLS when
    the answer is not inside it. With `evidence` (per example: character spans, or None) each
    window of an example that has spans gets per-token evidence labels.

    A question too long for its window, or a context cut into more than `max_windows` windows,
    raises DataError naming the example (`names[i]`, else its position)."""
    questions = [q.lstrip() for q in questions]  # leading spaces only waste window room
    check_questions_fit(tokenizer, questions, max_length, doc_stride, names)
    encoded = tokenizer(
        questions,
        contexts,
        truncation="only_second",
        max_length=max_length,
        stride=doc_stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        padding=False,
    )
    if max_windows is not None and encoded["overflow_to_sample_mapping"]:
        example, windows = Counter(encoded["overflow_to_sample_mapping"]).most_common(1)[0]
        if windows > max_windows:
            raise DataError(
                f"{_name(names, example)}: its context ({len(contexts[example]):,} characters) is "
                f"cut into {windows} windows of {max_length} subwords, more than qa.max_windows "
                f"({max_windows}). Split the context, or raise qa.max_windows"
            )
    features = []
    for window, example in enumerate(encoded["overflow_to_sample_mapping"]):
        sequence_ids = encoded.sequence_ids(window)
        offsets = [
            tuple(span) if side == 1 else None
            for span, side in zip(encoded["offset_mapping"][window], sequence_ids, strict=True)
        ]
        feature = QaFeature(
            example=example,
            input_ids=encoded["input_ids"][window],
            token_type_ids=encoded["token_type_ids"][window]
            if "token_type_ids" in encoded
            else None,
            offsets=offsets,
        )
        if answers is not None:
            answer = answers[example]
            start_char = answer["answer_start"][0]
            span = _answer_tokens(offsets, start_char, start_char + len(answer["text"][0]))
            if span is not None:
                feature.start_position, feature.end_position = span
        if evidence is not None and evidence[example] is not None:
            feature.evidence_labels = evidence_labels(offsets, evidence[example])
        features.append(feature)
    return features


def encode_records(tokenizer, records: list[dict], settings: Any, source: str | Path,
                   with_evidence: bool = False) -> list[QaFeature]:  # fmt: skip
    """`encode` of prepared QA rows (a split's JSON lines, read from `source`), windowed by the
    task's `max_length`, `doc_stride` and `max_windows` settings; errors name `source:line`.
    `with_evidence`: training windows also get the rows' evidence labels."""
    evidence = [r.get("evidence") for r in records] if with_evidence else None
    if evidence is not None:
        log.info("%s: %d of %d questions have evidence spans", Path(source).stem,
                 sum(e is not None for e in evidence), len(records))  # fmt: skip
    features = encode(
        tokenizer,
        [r["question"] for r in records],
        [r["context"] for r in records],
        [r["answers"] for r in records],
        settings.max_length,
        settings.doc_stride,
        evidence,
        max_windows=settings.max_windows,
        names=[f"{source}:{line} (id {r['id']})" for line, r in enumerate(records, start=1)],
    )
    log.info("%s: %d questions -> %d windows (max_length %d, doc_stride %d)", Path(source).stem,
             len(records), len(features), settings.max_length, settings.doc_stride)  # fmt: skip
    return features


@dataclass(frozen=True)
class Candidate:
    """The best span of one window: logit score, probability and character offsets."""

    example: int
    score: float  # start logit + end logit (comparable across windows of one example)
    probability: float  # p(start) * p(end) within the window's context tokens
    start: int
    end: int


def best_span(feature: QaFeature, start_logits: torch.Tensor, end_logits: torch.Tensor,
              n_best: int, max_answer_length: int) -> Candidate | None:  # fmt: skip
    """The highest-scoring valid span of a window: among the `n_best` start and end positions,
    both inside the context, end >= start, at most `max_answer_length` tokens long."""
    length = len(feature.offsets)
    start_logits, end_logits = start_logits[:length].float(), end_logits[:length].float()
    in_context = torch.tensor([span is not None for span in feature.offsets])
    if not in_context.any():
        return None
    start_logits = start_logits.masked_fill(~in_context, -math.inf)
    end_logits = end_logits.masked_fill(~in_context, -math.inf)
    k = min(n_best, int(in_context.sum()))
    starts, ends = start_logits.topk(k).indices, end_logits.topk(k).indices
    # every (start, end) pair of the candidates at once: rows = starts, columns = ends
    scores = start_logits[starts][:, None] + end_logits[ends][None, :]
    span_length = ends[None, :] - starts[:, None] + 1
    valid = (span_length >= 1) & (span_length <= max_answer_length)
    if not valid.any():
        return None
    row, column = divmod(int(scores.masked_fill(~valid, -math.inf).argmax()), k)
    s, e, score = int(starts[row]), int(ends[column]), float(scores[row, column])
    probability = float(start_logits.softmax(-1)[s] * end_logits.softmax(-1)[e])
    return Candidate(
        feature.example, score, probability, feature.offsets[s][0], feature.offsets[e][1]
    )


def pick_answers(candidates: list[Candidate], contexts: list[str]) -> list[dict[str, Any]]:
    """Per example, the best candidate over all its windows: answer text cut from the original
    context (casing and spacing kept), character span and probability. Examples without any
    valid span get an empty answer."""
    best: dict[int, Candidate] = {}
    for candidate in candidates:
        current = best.get(candidate.example)
        if current is None or candidate.score > current.score:
            best[candidate.example] = candidate
    answers = []
    for index, context in enumerate(contexts):
        chosen = best.get(index)
        if chosen is None:
            answers.append({"answer": "", "start": 0, "end": 0, "score": 0.0})
        else:
            answers.append(
                {
                    "answer": context[chosen.start : chosen.end],
                    "start": chosen.start,
                    "end": chosen.end,
                    "score": round(chosen.probability, 4),
                }
            )
    return answers
