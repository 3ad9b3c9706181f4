"""`qa.framework: tensorflow` through the real pipeline: a tiny `dvc repro` trains QA in Keras
and evaluates it, and `tmlops predict` answers from the saved folder. Skipped without
TensorFlow (the optional extra). What the registry logs of such a folder: tests/unit/tracking."""

from __future__ import annotations

import json

import pytest

from tests.conftest import tiny_profile
from tests.integration.conftest import edit_params, run

pytest.importorskip("tensorflow")
pytest.importorskip("keras")

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_a_tiny_repro_trains_qa_in_keras_then_evaluates_and_predicts(project):
    def keras_qa(raw):
        tiny_profile(raw)
        raw["qa"]["framework"] = "tensorflow"
        raw["qa"]["train"]["trainer"]["max_epochs"] = 1

    edit_params(project, keras_qa)
    repro = run(["dvc", "repro", "evaluate_qa"], project)
    log = repro.stdout + repro.stderr
    assert "framework tensorflow" in log and "Traceback" not in log
    config = json.loads((project / "models/qa/config.json").read_text())
    assert config["architectures"] == ["BertForQuestionAnswering"]
    assert (project / "models/qa/saved_model/saved_model.pb").is_file()
    details = json.loads((project / "reports/details/qa.json").read_text())
    assert details["model/framework"] == "tensorflow"
    speed = json.loads((project / "reports/speed/qa.json").read_text())
    assert speed["train/steps"] == 4 and speed["train/tokens_per_second"] > 0
    assert json.loads((project / "reports/plots/qa/val.json").read_text())[0]["val_f1"] >= 0
    out = run(["tmlops", "predict", "qa", "--model", "models/qa", "--context",
               "Mary went to the kitchen.", "Where is Mary?"], project)  # fmt: skip
    assert "answer" in json.loads(out.stdout.strip().splitlines()[-1])
