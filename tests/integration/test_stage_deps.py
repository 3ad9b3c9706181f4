"""`dvc status` in a fresh copy: the committed dvc.lock records today's code, and editing a
file a stage imports (the beam search) makes exactly the stages that run it stale."""

from __future__ import annotations

import re

import pytest

from tests.integration.conftest import run

pytestmark = pytest.mark.integration

BEAM_SEARCH = "src/transformer_mlops/models/transformer.py"


def changed_code(status: str) -> set[str]:
    """The source files and folders `dvc status` reports as modified deps."""
    return set(re.findall(r"modified:\s+((?:src|pipelines)/\S+)", status))


def covers(changed: set[str], path: str) -> bool:
    """Whether `path`, or a folder above it that a stage lists, is among the changed deps."""
    return any(path == dep or path.startswith(dep.rstrip("/") + "/") for dep in changed)


def test_the_lock_records_the_code_and_editing_beam_search_reruns_evaluate_scratch(project):
    before = run(["dvc", "status"], project).stdout
    assert not changed_code(before), f"dvc.lock is stale: re-record it (dvc repro)\n{before}"
    path = project / BEAM_SEARCH
    path.write_text(path.read_text() + "\n# an edit of the decoding code\n")
    for stage in ("evaluate_scratch", "train_scratch", "register"):
        status = run(["dvc", "status", stage], project).stdout
        assert covers(changed_code(status), BEAM_SEARCH), f"{stage} misses the edit:\n{status}"
    for stage in ("evaluate_ner", "finetune_qa", "prepare@seq2seq"):
        assert not covers(changed_code(run(["dvc", "status", stage], project).stdout), BEAM_SEARCH)
