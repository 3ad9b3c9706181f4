"""Bad input, end to end: each case runs the real command a user would run (a stage script, as
`dvc repro` does, or `tmlops`) on a project that already holds good outputs. Every case must
exit non-zero with one clear message naming the file, line or field and what was expected, print
no traceback, and leave the previous outputs byte-identical (hashes checked)."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from tests.integration.conftest import run

pytestmark = [pytest.mark.integration, pytest.mark.slow]

GUARDED = [
    "data/prepared",
    "models",
    "reports/metrics",
    "reports/validation",
    "reports/registry.json",
]


def snapshot(project: Path) -> dict[str, str]:
    """sha256 of every file under the guarded outputs."""
    hashes = {}
    for name in GUARDED:
        root = project / name
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            hashes[str(path.relative_to(project))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return hashes


def files_source(task: str, fmt: str, train: str):
    def edit(raw: dict) -> None:
        raw[task]["data"]["source"] = "files"
        raw[task]["data"]["files"].update(format=fmt, train=train, validation=None, test=None)

    return edit


def set_key(dotted: str, value):
    def edit(raw: dict) -> None:
        *parents, last = dotted.split(".")
        node = raw
        for key in parents:
            node = node[key]
        node[last] = value

    return edit


SQUAD_OK = {"data": [{"title": "t", "paragraphs": [{"context": "Mary went to the kitchen.", "qas": [
    {"id": "q1", "question": "Where is Mary?", "answers": [{"text": "kitchen", "answer_start": 17}]}]}]}]}  # fmt: skip


def squad_with(answer: dict) -> str:
    doc = json.loads(json.dumps(SQUAD_OK))
    doc["data"][0]["paragraphs"][0]["qas"][0]["answers"] = [answer]
    return json.dumps(doc)


@dataclass
class Case:
    name: str
    command: list[str]
    expected: list[str]  # every one must appear in the output
    params: Callable[[dict], None] | None = None
    files: dict[str, str | bytes] = field(default_factory=dict)
    prepare: Callable[[Path], None] | None = None  # arranges other bad state in the project
    may_change: tuple[str, ...] = ()  # outputs the failure itself replaces (a failed validation)


def truncate(path: str):
    def arrange(project: Path) -> None:
        target = project / path
        target.write_bytes(target.read_bytes()[:1000])

    return arrange


def corrupt_resume_checkpoint(project: Path) -> None:
    """A last.ckpt that cannot be read, recorded for the current params and data."""
    from transformer_mlops.config import load_params
    from transformer_mlops.tracking.runs import redact, tracking_uri
    from transformer_mlops.tracking.stage import ResumePoint, fingerprint

    params = load_params(project / "params.yaml").ner.model_dump()
    print_ = fingerprint(params, project / "data/prepared/ner")
    (project / "checkpoints/ner").mkdir(parents=True, exist_ok=True)
    (project / "checkpoints/ner/last.ckpt").write_bytes(b"PK\x03\x04 not really a checkpoint")
    ResumePoint(project / "checkpoints/ner", print_).started(None, redact(tracking_uri()))


# A failed validation removes its certificate and writes <task>.failed.json, so nothing downstream
# runs on the data; models and metrics stay as they were.
VALIDATION_REPORTS = ("reports/validation/",)
# Data that parses but breaks a rule: `dvc repro` prepares it, then validation stops the pipeline.
REPRO_VALIDATE_NER = ["dvc", "repro", "validate@ner"]
REPRO_VALIDATE_QA = ["dvc", "repro", "validate@qa"]
PREPARED_NER = ("data/prepared/ner", "reports/validation/")
PREPARED_QA = ("data/prepared/qa", "reports/validation/")
PREPARE_NER = ["python", "pipelines/prepare.py", "ner"]
PREPARE_QA = ["python", "pipelines/prepare.py", "qa"]
PREPARE_S2S = ["python", "pipelines/prepare.py", "seq2seq"]
CASES = [
    Case("conll wrong column count", PREPARE_NER, ["bad.conll:3", "column"],
         files_source("ner", "conll", "bad.conll"), {"bad.conll": "EU B-ORG\nrejects O\nGerman B-MISC extra\n"}),
    Case("conll tag outside the label set", ["python", "pipelines/validate.py", "ner"],
         ["tags in the label set", "B-CITY"], None, {},
         lambda p: _rewrite_prepared(p, "ner", "train", lambda r: {**r, "tags": ["B-CITY", *r["tags"][1:]]}),
         VALIDATION_REPORTS),
    Case("conll I-X after O", ["python", "pipelines/validate.py", "ner"], ["IOB2 well formed", "O>I-"],
         None, {}, lambda p: _rewrite_prepared(p, "ner", "test", _i_after_o), VALIDATION_REPORTS),
    Case("empty split", REPRO_VALIDATE_NER, ["Data validation failed for task 'ner'", "row count within [10, "],
         files_source("ner", "conll", "empty.conll"), {"empty.conll": "\n\n"}, None, PREPARED_NER),
    Case("squad answer text not at answer_start", REPRO_VALIDATE_QA,
         ["Data validation failed for task 'qa'", "context[answer_start:] equals the answer text"],
         files_source("qa", "squad", "shifted.json"), {"shifted.json": squad_with({"text": "kitchen", "answer_start": 3})},
         None, PREPARED_QA),
    Case("squad answer_start past the context", REPRO_VALIDATE_QA,
         ["Data validation failed for task 'qa'", "answer ends inside the context"],
         files_source("qa", "squad", "past.json"), {"past.json": squad_with({"text": "kitchen", "answer_start": 900})},
         None, PREPARED_QA),
    Case("invalid JSON", PREPARE_QA, ["bad.json:1:22", "invalid JSON", "expected SQuAD v1.1 JSON"],
         files_source("qa", "squad", "bad.json"), {"bad.json": '{"data": [ {"title": }'}),
    Case("babi line without an id", PREPARE_QA, ["bad.txt:2", "numeric ID"],
         files_source("qa", "babi", "bad.txt"), {"bad.txt": "1 Mary went to the kitchen.\nWhere is Mary?\tkitchen\t1\n"}),
    Case("tsv line with one column", PREPARE_S2S, ["bad.tsv:2", "column"],
         files_source("seq2seq", "tsv", "bad.tsv"), {"bad.tsv": "one\tun\ntwo\n"}),
    Case("non-UTF-8 file", PREPARE_NER, ["latin1.conll", "UTF-8"],
         files_source("ner", "conll", "latin1.conll"), {"latin1.conll": "Z\xfcrich B-LOC\n".encode("latin-1")}),
    Case("missing data path", PREPARE_NER, ["ner.data.files.train", "no/such/file.conll"],
         files_source("ner", "conll", "no/such/file.conll")),
    Case("unknown source name", PREPARE_NER, ["ner.data.source", "synthetic", "files", "hub"],
         set_key("ner.data.source", "ftp")),
    Case("param of the wrong type", PREPARE_NER, ["ner.data.seed", "integer"],
         set_key("ner.data.seed", "eleven")),
    Case("unknown param key", PREPARE_NER, ["ner.data.shuffle_everything", "unknown key"],
         set_key("ner.data.shuffle_everything", True)),
    Case("doc_stride >= max_length", PREPARE_QA, ["params.yaml", "qa", "doc_stride (400)", "max_length (160)"],
         set_key("qa.doc_stride", 400)),
    Case("unknown pretrained model name", ["python", "pipelines/finetune_ner.py"],
         ["ner.model", "no-such-model/anywhere-xyz", "does not resolve"],
         set_key("ner.model", "./no-such-model/anywhere-xyz")),
    Case("truncated safetensors weights", ["python", "pipelines/evaluate_ner.py"],
         ["models/ner", "cannot read the saved model", "model.safetensors"], None, {},
         truncate("models/ner/model.safetensors")),
    Case("corrupt resume checkpoint", ["python", "pipelines/finetune_ner.py"],
         ["checkpoints/ner/last.ckpt", "not a readable checkpoint", "Remove"], None, {},
         corrupt_resume_checkpoint),
    Case("empty text to predict", ["tmlops", "predict", "ner", "  "], ["empty text"]),
    Case("oversized request to the served model", ["tmlops", "predict", "ner", "--model",
         "models:/ner@champion", "word " * 5000], ["models:/ner@champion", "25000 characters", "at most 20000 per text"]),
    Case("question without context", ["tmlops", "predict", "qa", "Where is Mary?"], ["--context"]),
    Case("unknown task", ["python", "pipelines/prepare.py", "poetry"], ["poetry", "seq2seq", "ner", "qa"]),
]  # fmt: skip


def _rewrite_prepared(project: Path, task: str, split: str, change) -> None:
    path = project / "data/prepared" / task / f"{split}.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    rows[0] = change(rows[0])
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _i_after_o(row: dict) -> dict:
    tags = list(row["tags"])
    tags[0] = "O"
    tags[1 if len(tags) > 1 else 0] = "I-PER"
    return {**row, "tags": tags}


@pytest.fixture(scope="module")
def project(tiny_full_project):
    return tiny_full_project


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_gives_one_clear_message_and_keeps_outputs(project, case):
    params_text = (project / "params.yaml").read_text()
    lock_text = (project / "dvc.lock").read_text()
    before = snapshot(project)
    backups = {}
    for name in GUARDED:  # arrange() may damage outputs on purpose: restore them afterwards
        if (project / name).exists():
            backups[name] = project.parent / "backup" / name
            shutil.rmtree(backups[name], ignore_errors=True)
            copy = shutil.copytree if (project / name).is_dir() else shutil.copy2
            backups[name].parent.mkdir(parents=True, exist_ok=True)
            copy(project / name, backups[name])
    try:
        if case.params:
            raw = yaml.safe_load(params_text)
            case.params(raw)
            (project / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
        for name, content in case.files.items():
            target = project / name
            target.write_bytes(content if isinstance(content, bytes) else content.encode())
        if case.prepare:
            case.prepare(project)
        arranged = snapshot(project)
        proc = run(case.command, project, check=False, timeout=600)
        output = proc.stdout + proc.stderr
        assert proc.returncode != 0, output
        assert "Traceback" not in output, output
        for expected in case.expected:
            assert expected in output, f"{expected!r} not in:\n{output}"
        after = snapshot(project)
        changed = {k for k in set(after) | set(arranged) if after.get(k) != arranged.get(k)}
        assert {k for k in changed if not k.startswith(case.may_change or ("//",))} == set()
    finally:
        (project / "params.yaml").write_text(params_text)
        (project / "dvc.lock").write_text(lock_text)
        for name in case.files:
            (project / name).unlink(missing_ok=True)
        shutil.rmtree(project / "checkpoints/ner", ignore_errors=True)
        for name, backup in backups.items():
            if backup.is_dir():
                shutil.rmtree(project / name, ignore_errors=True)
                shutil.copytree(backup, project / name)
            else:
                shutil.copy2(backup, project / name)
    assert snapshot(project) == before
