"""A stage's outputs are put back as they were when it fails (outputs.kept_on_failure)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from transformer_mlops.io import atomic_dir, write_json
from transformer_mlops.outputs import kept_on_failure, kept_path, stage_outputs


def tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture
def outputs(tmp_path):
    model, record = tmp_path / "models/ner", tmp_path / "reports/runs/ner.json"
    with atomic_dir(model) as tmp:
        (tmp / "model.safetensors").write_bytes(b"old weights")
    write_json(record, {"run_id": "old"})
    return [model, record, tmp_path / "reports/speed/ner.json"]  # the last does not exist yet


def test_failure_puts_every_output_back_and_removes_new_ones(tmp_path, outputs):
    before = tree(tmp_path)
    with pytest.raises(RuntimeError), kept_on_failure(outputs):
        with atomic_dir(outputs[0]) as tmp:  # the stage writes its outputs the project's way
            (tmp / "model.safetensors").write_bytes(b"new weights")
        write_json(outputs[2], {"speed": 1})
        raise RuntimeError("the stage failed after writing part of its outputs")
    assert tree(tmp_path) == before
    assert not any(p.name.endswith(".kept") for p in tmp_path.rglob("*"))


def test_success_keeps_the_new_outputs_and_leaves_no_trace(tmp_path, outputs):
    with kept_on_failure(outputs):
        write_json(outputs[1], {"run_id": "new"})
    assert b"new" in outputs[1].read_bytes()
    assert not any(p.name.endswith(".kept") for p in tmp_path.rglob(".*"))


def test_a_killed_run_is_put_back_by_the_next_one(tmp_path, outputs):
    before = tree(tmp_path)
    os.link(outputs[1], kept_path(outputs[1]))  # what a run killed with -9 leaves
    write_json(outputs[1], {"run_id": "half-done"})
    with pytest.raises(RuntimeError), kept_on_failure(outputs):
        raise RuntimeError
    assert tree(tmp_path) == before


def test_stage_outputs_read_from_dvc_yaml(tmp_path):
    (tmp_path / "dvc.yaml").write_text(
        "stages:\n  prepare:\n    foreach: [ner]\n    do:\n      cmd: x\n      outs:\n"
        "        - data/prepared/${item}:\n            persist: true\n"
        "  evaluate:\n    cmd: y\n    metrics:\n      - m.json:\n          cache: false\n"
        "    plots:\n      - p.json\n"
    )
    assert stage_outputs("prepare@ner", tmp_path / "dvc.yaml") == [Path("data/prepared/ner")]
    assert stage_outputs("evaluate", tmp_path / "dvc.yaml") == [Path("m.json"), Path("p.json")]
    assert stage_outputs("prepare@qa", tmp_path / "dvc.yaml") == []  # not in the foreach
    assert stage_outputs("evaluate", tmp_path / "missing.yaml") == []  # outside a DVC project


def test_every_output_in_dvc_yaml_persists():
    """Without `persist: true` DVC deletes an output before the stage runs: nothing to keep."""
    import yaml

    stages = yaml.safe_load(Path("dvc.yaml").read_text())["stages"]
    for name, stage in stages.items():
        body = stage.get("do", stage)
        for section in ("outs", "metrics", "plots"):
            for entry in body.get(section) or []:
                assert isinstance(entry, dict), f"{name}: {entry} lacks persist: true"
                ((path, options),) = entry.items()
                assert options.get("persist") is True, f"{name}: {path} lacks persist: true"


def test_a_partial_kept_copy_is_never_put_back(tmp_path, outputs):
    """A kill while the links were being made leaves a partial copy: the output stays."""
    before = tree(tmp_path)
    (tmp_path / "models/.ner.kept.partial").mkdir()  # what a kill during copytree leaves
    with pytest.raises(RuntimeError), kept_on_failure(outputs):
        raise RuntimeError
    assert tree(tmp_path) == before
    assert not (tmp_path / "models/.ner.kept.partial").exists()


def test_every_stage_script_names_a_stage_of_dvc_yaml():
    """run_stage("<name>") reads the stage's outputs from dvc.yaml: a name it lacks is a bug."""
    import re

    for script in sorted(Path("pipelines").glob("*.py")):
        for name in re.findall(r'run_stage\(f?"([^"{@]+)', script.read_text()):
            stage_outputs(name if name != "prepare" else "prepare@ner")
    with pytest.raises(ValueError, match="no stage 'nope'"):
        stage_outputs("nope")
    assert stage_outputs("prepare@poetry") == []  # not a task: the script refuses it


def test_a_stop_by_signal_is_never_a_success(tmp_path, monkeypatch):
    """Lightning turns SIGTERM into a bare SystemExit (status 0): the stage must fail."""
    from transformer_mlops.runner import run_stage

    monkeypatch.chdir(tmp_path)

    def stopped() -> None:
        raise SystemExit()

    with pytest.raises(SystemExit) as raised:
        run_stage("anything", stopped)  # no dvc.yaml here: nothing to keep
    assert raised.value.code == 143
