"""What a run is called and what it records: names that say what differs, the params a run
used, and a dirty flag for the code only (a real git repository, no MLflow needed)."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from transformer_mlops.tracking.runs import git_state, run_name, used_params


@pytest.fixture
def repo(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"seq2seq": {"eval": {"beam_size": 1}}}))
    (tmp_path / "code.py").write_text("x = 1\n")
    (tmp_path / "dvc.lock").write_text("schema: '2.0'\n")
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "m.json").write_text("{}")
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"],
                ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c"]):  # fmt: skip
        subprocess.run(cmd, check=True, capture_output=True)
    return tmp_path


def test_files_the_pipeline_rewrites_do_not_make_the_code_dirty(repo):
    assert git_state()["git.dirty"] == "false"
    (repo / "dvc.lock").write_text("schema: '2.0'\nstages: {}\n")
    (repo / "reports" / "m.json").write_text('{"test/f1": 1}')
    (repo / "params.yaml").write_text(yaml.safe_dump({"seq2seq": {"eval": {"beam_size": 3}}}))
    assert git_state()["git.dirty"] == "false"
    (repo / "code.py").write_text("x = 2\n")
    assert git_state()["git.dirty"] == "true"


def test_run_names_say_the_stage_and_what_differs(repo, monkeypatch):
    commit = git_state()["git.commit"]
    assert run_name("evaluate_scratch", "seq2seq", {"eval": {"beam_size": 1}}, commit) == (
        f"evaluate_scratch @{commit[:7]}"
    )
    (repo / "params.yaml").write_text(yaml.safe_dump({"seq2seq": {"eval": {"beam_size": 3}}}))
    used = {"eval": {"beam_size": 3, "max_decode_tokens": 64}}  # a default params.yaml leaves out
    assert run_name("evaluate_scratch", "seq2seq", used, commit) == (
        "evaluate_scratch seq2seq.eval.beam_size=3"
    )
    monkeypatch.setenv("DVC_EXP_NAME", "wider-beam")  # what `dvc exp run` sets
    assert run_name("evaluate_scratch", "seq2seq", {"eval": {"beam_size": 3}}, commit) == (
        "evaluate_scratch wider-beam"
    )


def test_a_training_run_logs_the_params_it_used():
    section = {"data": {"source": "synthetic", "seed": 7, "synthetic": {"train": 10},
                        "files": {"train": "a.txt"}, "hub": {"name": None}},
               "train": {"lr": 1}, "eval": {"beam_size": 1}}  # fmt: skip
    assert used_params(section) == {"data": {"source": "synthetic", "seed": 7,
                                             "synthetic": {"train": 10}}, "train": {"lr": 1}}  # fmt: skip
    section["data"]["source"] = "files"
    assert used_params(section)["data"] == {
        "source": "files",
        "seed": 7,
        "files": {"train": "a.txt"},
    }
