"""Lightning DDP with 2 CPU processes (gloo) trains the scratch model; the checkpoint loads."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from tests.integration.conftest import run
from transformer_mlops.inference.scratch import load_scratch_model, translate

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_two_process_ddp_trains_on_both_ranks_and_the_checkpoint_loads(tmp_path):
    script = Path(__file__).with_name("ddp_train_scratch.py")
    run([sys.executable, str(script), str(tmp_path)], cwd=tmp_path, timeout=600)
    reports = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world_size"] for r in reports] == [2, 2]
    assert len(reports[0]["first_sources"]) == len(reports[1]["first_sources"]) == 4  # 256 / 32 / 2
    assert reports[0]["first_sources"] != reports[1]["first_sources"]  # each rank its own shard
    checkpoint = torch.load(tmp_path / "ckpt" / "last.ckpt", map_location="cpu", weights_only=True)
    assert checkpoint["global_step"] == 4
    model, tokenizer = load_scratch_model(tmp_path / "model")
    assert isinstance(translate(model, tokenizer, ["1 May 2001"])[0], str)


def test_a_ddp_run_killed_mid_epoch_resumes_to_the_uninterrupted_weights(tmp_path):
    """2 epochs x 4 steps per rank, last.ckpt every 3 steps and at epoch ends: die after step 7,
    resume mid-epoch from step 6."""
    script = str(Path(__file__).with_name("ddp_train_scratch.py"))
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    whole.mkdir()
    broken.mkdir()
    run([sys.executable, script, str(whole), "2"], cwd=whole, timeout=600)
    crashed = run(
        [sys.executable, script, str(broken), "2", "7"], cwd=broken, check=False, timeout=600
    )
    assert crashed.returncode != 0 and "simulated crash" in crashed.stdout + crashed.stderr
    assert not (broken / "model").exists()
    assert torch.load(broken / "ckpt/last.ckpt", weights_only=True)["global_step"] == 6
    run([sys.executable, script, str(broken), "2", "resume"], cwd=broken, timeout=600)
    weights = (whole / "model/model.safetensors").read_bytes()
    assert (broken / "model/model.safetensors").read_bytes() == weights


def test_the_training_stage_under_ddp_makes_one_mlflow_run_from_rank_zero(tmp_path):
    from mlflow import MlflowClient

    from tests.conftest import tiny_profile
    from tests.integration.conftest import copy_project, edit_params

    project = copy_project(tmp_path / "project")

    def ddp_scratch(raw):
        tiny_profile(raw)
        raw["seq2seq"]["train"].update(val_decode_limit=20)
        raw["seq2seq"]["train"]["trainer"].update(devices=2, strategy="ddp")

    edit_params(project, ddp_scratch)
    run(["dvc", "repro", "train_scratch"], project, timeout=600)
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("transformer-mlops-scratch")
    (only,) = client.search_runs([experiment.experiment_id])
    assert (
        json.loads((project / "reports/runs/scratch.json").read_text())["run_id"]
        == only.info.run_id
    )
    speed = json.loads((project / "reports/speed/scratch.json").read_text())
    assert speed["train/steps"] == 2  # 200 examples / 50 / 2 ranks
