"""Every validation rule catches a planted defect, and the message names it."""

from __future__ import annotations

import copy

import pytest

from transformer_mlops.config import SyntheticConfig, parse_params
from transformer_mlops.data.synthetic import generate
from transformer_mlops.data.validation import format_failures, validate, validate_splits
from transformer_mlops.errors import ValidationFailed

SIZES = SyntheticConfig(train=60, validation=20, test=20)


@pytest.fixture(scope="module")
def clean():
    return {task: generate(task, SIZES, seed=1) for task in ("seq2seq", "ner", "qa")}


@pytest.fixture
def cfg(tiny_params_raw):
    return lambda task: parse_params(tiny_params_raw).task(task).data


def _set(record: dict, field: str, value) -> None:
    record[field] = value


# (task, description of the planted defect, how to plant it, words the message must have)
DEFECTS = [
    ("seq2seq", "empty source", lambda s: _set(s["test"][3], "source", ""),
     ["[test] rows", "no empty source text", "seq2seq-test-000003"]),
    ("seq2seq", "too few rows", lambda s: s.__setitem__("validation", s["validation"][:3]),
     ["[validation] rows", "row count within [10, 100000]", "observed 3"]),
    ("seq2seq", "missing id", lambda s: _set(s["train"][5], "id", None),
     ["[train] rows", "every example has an id"]),
    ("ner", "tag outside the label set", lambda s: _set(s["test"][2], "tags", ["B-CITY", *s["test"][2]["tags"][1:]]),
     ["[test] tokens", "tags in the label set", "B-CITY", "ner-test-000002"]),
    ("ner", "I-X after O", lambda s: _set(s["train"][4], "tags", ["I-PER", *s["train"][4]["tags"][1:]]),
     ["[train] tokens", "IOB2 well formed", "O>I-PER", "ner-train-000004"]),
    ("ner", "tokens and tags of unequal length", lambda s: s["validation"][1]["tags"].append("O"),
     ["[validation] rows", "tokens and tags have equal length", "ner-validation-000001"]),
    ("ner", "empty token", lambda s: _set(s["train"][0], "tokens", ["", *s["train"][0]["tokens"][1:]]),
     ["[train] tokens", "no empty token", "ner-train-000000"]),
    ("ner", "sentence without tokens", lambda s: s["train"][9].update(tokens=[], tags=[]),
     ["[train] rows", "no sentence without tokens", "ner-train-000009"]),
    ("ner", "empty split", lambda s: s.__setitem__("test", []),
     ["'ner': 1 of", "[test] rows", "row count within [10, 100000]", "observed 0"]),
    ("ner", "test example also in train", lambda s: _set(s["test"][0], "tokens", list(s["train"][0]["tokens"])),
     ["[all] all", "no example shared between splits"]),
    ("ner", "duplicate id", lambda s: _set(s["test"][1], "id", s["train"][1]["id"]),
     ["[all] all", "ids unique across all splits", "ner-train-000001"]),
    ("qa", "answer text not at answer_start", lambda s: s["test"][0]["answers"]["answer_start"].__setitem__(0, 1),
     ["[test] answers", "context[answer_start:] equals the answer text", "qa-test-000000"]),
    ("qa", "answer_start past the context", lambda s: s["train"][2]["answers"]["answer_start"].__setitem__(0, 10_000),
     ["[train] answers", "answer ends inside the context", "qa-train-000002"]),
    ("qa", "negative answer_start", lambda s: s["train"][3]["answers"]["answer_start"].__setitem__(0, -4),
     ["[train] answers", "answer_start is not negative", "qa-train-000003"]),
    ("qa", "empty question", lambda s: _set(s["validation"][0], "question", ""),
     ["[validation] rows", "no empty question", "qa-validation-000000"]),
    ("qa", "blank question", lambda s: _set(s["train"][1], "question", " \t "),
     ["[train] rows", "no empty question (blank counts as empty)", "qa-train-000001"]),
    ("qa", "blank context", lambda s: _set(s["test"][2], "context", "   "),
     ["[test] rows", "no empty context", "qa-test-000002"]),
    ("seq2seq", "blank target", lambda s: _set(s["train"][7], "target", " "),
     ["[train] rows", "no empty target text", "seq2seq-train-000007"]),
    ("qa", "question without answers", lambda s: _set(s["test"][4], "answers", {"text": [], "answer_start": []}),
     ["[test] rows", "every question has an answer", "qa-test-000004"]),
    ("qa", "evidence span past the context", lambda s: s["train"][6]["evidence"].append([5, 10_000]),
     ["[train] evidence", "evidence spans end inside the context", "qa-train-000006"]),
    ("qa", "empty evidence span", lambda s: _set(s["validation"][2], "evidence", [[7, 7]]),
     ["[validation] evidence", "evidence spans are not empty", "qa-validation-000002"]),
    ("qa", "evidence span that is not a pair", lambda s: _set(s["test"][1], "evidence", [[3]]),
     ["[test] evidence", "qa-test-000001"]),
    ("qa", "evidence span of three numbers", lambda s: _set(s["test"][4], "evidence", [[3, 9, 12]]),
     ["[test] evidence", "evidence spans are [start, end] pairs", "qa-test-000004"]),
]  # fmt: skip


@pytest.mark.parametrize("task,defect,plant,expected", DEFECTS, ids=[d[1] for d in DEFECTS])
def test_planted_defect_is_caught_and_named(task, defect, plant, expected, clean, cfg, tmp_path):
    splits = copy.deepcopy(clean[task])
    plant(splits)
    report = validate_splits(task, splits, cfg(task), tmp_path / "docs")
    assert not report["success"], defect
    message = format_failures(report)
    for words in expected:
        assert words in message, f"{defect}: {words!r} not in\n{message}"


@pytest.mark.parametrize("task", ["seq2seq", "ner", "qa"])
def test_clean_data_passes_and_docs_are_built(task, clean, cfg, tmp_path):
    report = validate_splits(task, clean[task], cfg(task), tmp_path / "docs")
    assert report["success"] and report["failed"] == 0 and report["checks"] >= 10
    assert (tmp_path / "docs" / "index.html").is_file()


def test_failed_validation_keeps_the_last_good_report_and_docs(clean, cfg, tmp_path):
    splits = copy.deepcopy(clean["ner"])
    report_path, docs = tmp_path / "ner.json", tmp_path / "docs"
    validate("ner", cfg("ner"), splits, report_path, docs)
    good = report_path.read_bytes(), (docs / "index.html").read_bytes()
    splits["test"][0]["tags"][0] = "B-FOO"
    with pytest.raises(ValidationFailed, match=r"FAILED \[test\] tokens: tags in the label set"):
        validate("ner", cfg("ner"), splits, report_path, docs)
    assert (report_path.read_bytes(), (docs / "index.html").read_bytes()) == good
    assert (tmp_path / "ner.failed.json").is_file()
    assert (tmp_path / "docs.failed" / "index.html").is_file()
    validate("ner", cfg("ner"), clean["ner"], report_path, docs)  # fixed: the failure report goes
    assert not (tmp_path / "ner.failed.json").exists() and not (tmp_path / "docs.failed").exists()
