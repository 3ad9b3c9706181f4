from __future__ import annotations

import json

import pytest

from transformer_mlops.data import formats
from transformer_mlops.errors import DataError

CONLL = """-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC

Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER
\t
-DOCSTART- -X- -X- O

BRUSSELS NNP B-NP B-LOC
"""


def test_conll_skips_docstart_splits_on_whitespace_lines_and_groups_documents(tmp_path):
    path = tmp_path / "train.txt"
    path.write_text(CONLL)
    records = formats.read_conll(path)
    assert [r["tokens"] for r in records] == [
        ["EU", "rejects", "German"],
        ["Peter", "Blackburn"],
        ["BRUSSELS"],
    ]
    assert records[1]["tags"] == ["B-PER", "I-PER"]
    assert [r["group"] for r in records] == ["doc1", "doc1", "doc2"]
    # another column: the chunk tags
    assert formats.read_conll(path, tag_column=2)[0]["tags"] == ["B-NP", "B-VP", "B-NP"]


def test_conll_without_docstart_groups_by_sentence_so_splits_can_be_carved(tmp_path):
    path = tmp_path / "wnut.conll"
    path.write_text("@paul\tO\nhi\tO\n\nNew\tB-location\nYork\tI-location\n\nok\tO\n")
    records = formats.read_conll(path)
    assert [r["group"] for r in records] == ["sentence0", "sentence1", "sentence2"]


def test_conll_wrong_column_count_names_the_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("EU NNP B-NP B-ORG\nrejects VBZ O\n")
    with pytest.raises(DataError, match=r"bad\.txt:2: expected 4 columns .* got 3"):
        formats.read_conll(path)


def test_conll_tag_column_that_is_the_token_is_rejected(tmp_path):
    path = tmp_path / "x.txt"
    path.write_text("EU B-ORG\n")
    with pytest.raises(DataError, match="tag_column 0"):
        formats.read_conll(path, tag_column=0)


def test_tsv_pairs_and_one_column_line(tmp_path):
    path = tmp_path / "pairs.txt"
    path.write_text("Go.\tVa !\tCC-BY 2.0\nHi.\tSalut !\n")
    assert formats.read_tsv_pairs(path)[0] == {"source": "Go.", "target": "Va !", "group": "Go."}
    path.write_text("Go.\tVa !\nHi. Salut !\n")
    with pytest.raises(DataError, match=r"pairs\.txt:2: expected at least 2 tab-separated columns"):
        formats.read_tsv_pairs(path)


def test_squad_reads_answers_and_reports_invalid_json(tmp_path):
    path = tmp_path / "squad.json"
    data = {"version": "1.1", "data": [{"title": "T", "paragraphs": [{"context": "Paris is big.", "qas": [
        {"id": "q1", "question": "What is big?", "answers": [{"text": "Paris", "answer_start": 0}]}]}]}]}  # fmt: skip
    path.write_text(json.dumps(data))
    (record,) = formats.read_squad(path)
    assert record["answers"] == {"text": ["Paris"], "answer_start": [0]} and record["group"] == "T"
    path.write_text('{"data": [\n  {"title": "T",,}]}')
    with pytest.raises(DataError, match=r"squad\.json:2:\d+: invalid JSON"):
        formats.read_squad(path)


SQUAD_QA = {"id": "q1", "question": "What?", "answers": [{"text": "x", "answer_start": 0}]}


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([1, 2], r"the top level: expected an object with a 'data' list, found a list"),
        ({"data": ["a", "b"]}, r"data\[0\]: expected an article object .*, found a string"),
        ({"data": [{"paragraphs": {"context": "x"}}]}, r"data\[0\]\.paragraphs: expected a list, found an object"),
        ({"data": [{"paragraphs": [{"context": None, "qas": []}]}]}, r"paragraphs\[0\]\.context: expected a string, found null"),
        ({"data": [{"paragraphs": [{"context": "x", "qas": [{**SQUAD_QA, "question": None}]}]}]},
         r"data\[0\]\.paragraphs\[0\]\.qas\[0\]\.question: expected a string, found null"),
        ({"data": [{"paragraphs": [{"context": "x", "qas": [{"id": 1}]}]}]}, r"qas\[0\]\.question: expected a string, found null"),
        ({"data": [{"paragraphs": [{"context": "x", "qas": [{**SQUAD_QA, "answers": [{"text": "x", "answer_start": "0"}]}]}]}]},
         r"qas\[0\]\.answers\[0\]\.answer_start: expected a whole number .*, found a string"),
    ],
)  # fmt: skip
def test_squad_of_the_wrong_shape_names_the_json_path(tmp_path, document, message):
    path = tmp_path / "squad.json"
    path.write_text(json.dumps(document))
    with pytest.raises(DataError, match=message):
        formats.read_squad(path)


def test_squad_nested_too_deeply_is_a_message_not_a_crash(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(DataError, match=r"deep\.json: JSON nested too deeply"):
        formats.read_squad(path)


BABI = """1 Mary moved to the bathroom.
2 John went to the hallway.
3 Where is Mary? \tbathroom\t1
4 Daniel went back to the hallway.
5 Where is Sandra? \tgarden\t1
1 Sandra travelled to the office.
2 Where is Sandra? \toffice\t1
"""


def test_babi_contexts_offsets_and_skipped_questions(tmp_path):
    path = tmp_path / "qa1_single-supporting-fact_train.txt"
    path.write_text(BABI)
    records, skipped = formats.read_babi(path)
    assert skipped == 1  # "garden" is not in the story
    first, second = records
    assert first["context"] == "Mary moved to the bathroom. John went to the hallway."
    assert first["kind"] == "single-supporting-fact"
    start = first["answers"]["answer_start"][0]
    assert first["context"][start : start + 8] == "bathroom"
    assert second["context"] == "Sandra travelled to the office."
    assert first["group"] != second["group"]
    # supporting facts become evidence spans
    assert [first["context"][s:e] for s, e in first["evidence"]] == ["Mary moved to the bathroom."]
    two_facts = "1 Mary got the milk.\n2 John went to the hallway.\n3 Mary went to the garden.\n" \
                "4 Where is the milk? \tgarden\t3 1\n"  # fmt: skip
    path.write_text(two_facts)
    ((record,), _) = formats.read_babi(path)
    assert [record["context"][s:e] for s, e in record["evidence"]] == [
        "Mary got the milk.", "Mary went to the garden."]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1 Mary moved.\n2 Where is Mary?\tMary\tone\n", r":2: supporting fact IDs must be line numbers, got 'one'"),
        ("1 Mary moved.\n3 John went.\n", r":2: expected line ID 2 \(or 1 to start a new story\), got 3"),
        ("".join(f"{i} Mary moved.\n" for i in range(1, 1100)), r":1001: the story that starts at line 1 has over 1000 lines"),
    ],
)  # fmt: skip
def test_babi_numbering_and_supporting_ids_are_checked(tmp_path, text, message):
    path = tmp_path / "qa1_x_train.txt"
    path.write_text(text)
    with pytest.raises(DataError, match=message):
        formats.read_babi(path)


def test_babi_line_without_id(tmp_path):
    path = tmp_path / "qa1_x_train.txt"
    path.write_text("1 Mary moved to the bathroom.\nJohn went to the hallway.\n")
    with pytest.raises(DataError, match=r"qa1_x_train\.txt:2: expected 'ID text'"):
        formats.read_babi(path)


def test_non_utf8_and_missing_file(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("Go.\tVa !\nCafé\tCafé\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin1\.txt:2: not valid UTF-8 \(byte 0xe9"):
        formats.read_tsv_pairs(path)
    with pytest.raises(DataError, match="file not found"):
        formats.read_conll(tmp_path / "missing.txt")


def test_a_byte_order_mark_is_removed_and_said(tmp_path, caplog):
    path = tmp_path / "bom.conll"
    path.write_text("\ufeff-DOCSTART- O\n\nParis B-LOC\nwins O\n", encoding="utf-8")
    records = formats.read_conll(path)
    assert [r["tokens"] for r in records] == [["Paris", "wins"]]  # -DOCSTART- still recognised
    assert "byte-order mark" in caplog.text and "bom.conll" in caplog.text
