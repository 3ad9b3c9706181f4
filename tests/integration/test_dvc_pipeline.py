"""Real `dvc repro` of the data stages in a fresh git repo."""

from __future__ import annotations

import json

import pytest

from tests.conftest import tiny_profile
from tests.integration.conftest import edit_params, run

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DATA_STAGES = ["prepare@seq2seq", "prepare@ner", "prepare@qa"]


def test_repro_prepares_validates_and_is_then_a_no_op(project):
    edit_params(project, tiny_profile)
    run(["dvc", "repro", *DATA_STAGES], project)
    for task in ("seq2seq", "ner", "qa"):
        for split in ("train", "validation", "test"):
            assert (project / f"data/prepared/{task}/{split}.jsonl").stat().st_size > 0
        stats = json.loads((project / f"data/prepared/{task}/stats.json").read_text())
        assert stats["splits"]["train"]["rows"] == 200
        report = json.loads((project / f"reports/validation/{task}.json").read_text())
        assert report["success"] and report["failed"] == 0
        assert (project / f"reports/validation/docs/{task}/index.html").is_file()
    second = run(["dvc", "repro", *DATA_STAGES], project)
    assert "didn't change, skipping" in second.stdout
    assert "Running stage" not in second.stdout
    status = run(["dvc", "status", *DATA_STAGES], project)
    assert "up to date" in status.stdout


def test_one_task_knob_reruns_only_that_task_via_dvc_exp_run(project):
    edit_params(project, tiny_profile)
    run(["dvc", "repro", *DATA_STAGES], project)
    run(["git", "add", "-A"], project)
    run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "small params"],
        project,
    )
    again = run(["dvc", "exp", "run", "-S", "ner.data.synthetic.train=150", *DATA_STAGES], project)
    assert "Running stage 'prepare@ner'" in again.stdout
    stats = json.loads((project / "data/prepared/ner/stats.json").read_text())
    assert stats["splits"]["train"]["rows"] == 150
    assert "Running stage 'prepare@qa'" not in again.stdout
    assert "Running stage 'prepare@seq2seq'" not in again.stdout


def test_bad_data_stops_the_pipeline_with_a_readable_report(project):
    bad = project / "bad.conll"
    bad.write_text("Paris B-CITY\nis O\nnice O\n\nBerlin B-LOC\nwins I-ORG\n\n" * 30)

    def use_bad_file(raw):
        tiny_profile(raw)
        raw["ner"]["data"].update(source="files")
        raw["ner"]["data"]["files"].update(
            train="bad.conll", validation="bad.conll", test="bad.conll"
        )
        raw["ner"]["data"]["drop_overlap"] = False

    edit_params(project, use_bad_file)
    certificate = (project / "reports/validation/ner.json").read_bytes()  # the committed one
    proc = run(["dvc", "repro", "prepare@ner"], project, check=False)
    assert proc.returncode != 0
    output = proc.stdout + proc.stderr
    assert "Data validation failed for task 'ner'" in output
    assert "FAILED [train] tokens: tags in the label set" in output
    assert "'tag': 'B-CITY'" in output
    assert "FAILED [test] tokens: IOB2 well formed" in output and "B-LOC>I-ORG" in output
    assert "Traceback" not in output
    assert (project / "reports/validation/ner.json").read_bytes() == certificate  # the last good
    assert not (project / "data/prepared/ner").exists()  # data that fails is never written
    assert (project / "reports/validation/ner.failed.json").is_file()
    assert (project / "reports/validation/docs/ner.failed/index.html").is_file()


def test_failed_validation_keeps_training_from_running(project):
    (project / "pairs.tsv").write_text(
        "".join(f"date {i}\t\n" for i in range(300))
    )  # empty targets

    def bad_pairs(raw):
        tiny_profile(raw)
        raw["seq2seq"]["data"].update(source="files")
        raw["seq2seq"]["data"]["files"]["train"] = "pairs.tsv"

    edit_params(project, bad_pairs)
    proc = run(["dvc", "repro", "evaluate_scratch"], project, check=False)
    assert proc.returncode != 0
    assert "no empty target text" in proc.stdout + proc.stderr
    assert "Running stage 'train_scratch'" not in proc.stdout
    assert not (project / "models/scratch").exists()
