"""Registered models hold no pickle, and a tampered artifact store cannot run code on a machine
that loads `champion` through tmlops (or through MLflow with the package's defaults)."""

from __future__ import annotations

import json
import pickle
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from tests.integration.conftest import run

pytestmark = pytest.mark.integration

PICKLE_SUFFIXES = {".pkl", ".pickle", ".bin", ".pt", ".pth", ".ckpt", ".joblib"}


def model_folders(project: Path, task: str) -> list[Path]:
    return sorted(p.parent for p in (project / "mlartifacts" / task).rglob("MLmodel"))


def test_every_registered_artifact_is_data_or_the_package_code(tiny_registry):
    files = [p for p in (tiny_registry / "mlartifacts").rglob("*") if p.is_file()]
    assert files and not [p for p in files if p.suffix in PICKLE_SUFFIXES]
    for task in ("scratch", "ner", "qa"):
        flavors = {}
        for folder in model_folders(tiny_registry, task):
            mlmodel = yaml.safe_load((folder / "MLmodel").read_text())
            flavors[folder] = mlmodel["flavors"]
        pyfuncs = [f["python_function"] for f in flavors.values() if "transformers" not in f]
        assert [f["loader_module"] for f in pyfuncs] == ["mlflow.pyfunc.loaders.code_model"]
        assert Path(pyfuncs[0]["model_code_path"]).name == f"{task}.py"
        assert any("transformers" in f for f in flavors.values()) == (task == "ner")
        (signature,) = [yaml.safe_load((p / "MLmodel").read_text())["signature"]
                        for p in model_folders(tiny_registry, task) if (p / f"{task}.py").exists()]  # fmt: skip
        assert signature["inputs"] and signature["outputs"]


@pytest.fixture
def champion_folder(tiny_registry):
    """The scratch champion's model folder in the artifact store, put back after the test."""
    (folder,) = [p for p in model_folders(tiny_registry, "scratch")]
    backup = folder.parent / "backup"
    shutil.copytree(folder, backup)
    yield folder
    shutil.rmtree(folder)
    backup.rename(folder)


class _RunsCommand:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def predict(project: Path):
    return run(["tmlops", "predict", "scratch", "--model", "models:/scratch@champion", "3rd of May"],
               project, check=False)  # fmt: skip


def test_a_tampered_code_file_is_refused_and_never_run(tiny_registry, champion_folder, tmp_path):
    marker = tmp_path / "ran"
    code = champion_folder / "scratch.py"
    code.write_text(code.read_text() + f"\nimport os\nos.system('touch {marker}')\n")
    proc = predict(tiny_registry)
    assert proc.returncode == 2 and not marker.exists()
    assert "scratch.py differs from the one in this installed transformer-mlops" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_planted_pickle_is_refused_by_tmlops_and_by_mlflow(tiny_registry, champion_folder,
                                                            tmp_path):  # fmt: skip
    marker = tmp_path / "ran"
    (champion_folder / "python_model.pkl").write_bytes(pickle.dumps(_RunsCommand(marker)))
    mlmodel = yaml.safe_load((champion_folder / "MLmodel").read_text())
    flavor = mlmodel["flavors"]["python_function"]
    flavor.pop("model_code_path")
    flavor.update(loader_module="mlflow.pyfunc.model", python_model="python_model.pkl")
    (champion_folder / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    proc = predict(tiny_registry)
    assert proc.returncode == 2 and not marker.exists()
    assert "not from code" in proc.stderr
    # MLflow's own loader, in a process that imported the package: pickles are switched off
    code = ("import transformer_mlops, mlflow; mlflow.set_tracking_uri('sqlite:///mlflow.db')\n"
            "try:\n    mlflow.pyfunc.load_model('models:/scratch@champion')\n"
            "except Exception as error:\n    print(type(error).__name__, error)")  # fmt: skip
    refused = run([sys.executable, "-c", code], tiny_registry)
    assert "Deserializing model using pickle is disallowed" in refused.stdout
    assert not marker.exists()


@pytest.mark.slow  # three model loads; `make test` covers the limits through `tmlops serve`
def test_registered_models_predict_and_refuse_what_they_cannot_read(tiny_registry):
    proc = run(["tmlops", "predict", "qa", "--model", "models:/qa@champion", "--context",
                "Mary went to the kitchen.", "Where is Mary?"], tiny_registry)  # fmt: skip
    answer = json.loads(proc.stdout)
    assert "Mary went to the kitchen."[answer["start"] : answer["end"]] == answer["answer"]
    long_question = "Where is Mary " * 200 + "?"
    proc = run(["tmlops", "predict", "qa", "--model", "models:/qa@champion", "--context",
                "Mary went to the kitchen.", long_question], tiny_registry, check=False)  # fmt: skip
    assert proc.returncode == 2 and "question" in proc.stderr and "Traceback" not in proc.stderr
    proc = run(["tmlops", "predict", "scratch", "--model", "models:/scratch@champion", "x" * 200],
               tiny_registry, check=False)  # fmt: skip
    assert proc.returncode == 2 and "reads at most 128" in proc.stderr
