"""Resuming a training run from last.ckpt gives the weights of an uninterrupted run: optimizer,
schedule, loop counters, RNG (dropout) and the position in the epoch's batch order all restored."""

from __future__ import annotations

import pytest
import torch

from tests.conftest import tiny_params, write_synthetic
from tests.integration.crash_callback import Crash
from transformer_mlops.config import parse_params
from transformer_mlops.errors import UserError
from transformer_mlops.tasks.seq2seq import train
from transformer_mlops.tracking.stage import ResumePoint, fingerprint


@pytest.fixture(scope="module")
def setup(tmp_path_factory, default_params_raw):
    root = tmp_path_factory.mktemp("resume")
    write_synthetic("seq2seq", root / "prepared", train=256, validation=64, test=32)
    raw = tiny_params(default_params_raw)
    raw["seq2seq"]["model"].update(dropout=0.2)
    raw["seq2seq"]["train"].update(batch_size=32, val_decode_limit=32)
    raw["seq2seq"]["train"]["trainer"].update(max_epochs=2, checkpoint_every_n_steps=3)
    return parse_params(raw).seq2seq, root


@pytest.fixture(scope="module")
def whole(setup):
    cfg, root = setup
    summary = train(cfg, root / "prepared", root / "whole", root / "ckpt-whole",
                    enable_progress_bar=False)  # fmt: skip
    assert summary["global_step"] == 16  # 2 epochs x 8 batches
    return summary


# Checkpoints every 3 steps and at epoch ends (step 8): a crash after step 11 resumes mid-epoch
# from step 9, one after step 9 from the end of epoch 1 (after its validation).
@pytest.mark.parametrize("crash_after", [11, 9])
def test_a_resumed_run_ends_with_the_uninterrupted_weights(setup, whole, crash_after):
    cfg, root = setup
    ckpt = root / f"ckpt-{crash_after}"
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(cfg, root / "prepared", root / "broken", ckpt, callbacks=[Crash(crash_after)],
              enable_progress_bar=False)  # fmt: skip
    last = ckpt / "last.ckpt"
    assert last.is_file() and not (root / "broken").exists()  # nothing half-written
    resumed = train(cfg, root / "prepared", root / f"resumed-{crash_after}", ckpt, ckpt_path=last,
                    enable_progress_bar=False)  # fmt: skip
    assert resumed["global_step"] == 16
    assert resumed["best_val_exact_match"] == whole["best_val_exact_match"]
    weights = (root / "whole" / "model.safetensors").read_bytes()
    assert (root / f"resumed-{crash_after}" / "model.safetensors").read_bytes() == weights


def test_resume_point_only_for_the_same_params_and_data(setup, tmp_path):
    cfg, root = setup
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    torch.save({"global_step": 3}, ckpt / "last.ckpt")
    print_ = fingerprint(cfg.model_dump(), root / "prepared")
    ResumePoint(ckpt, print_).started("run-1", "sqlite:///mlflow.db")
    assert ResumePoint.find(ckpt, print_, clear_stale=False).checkpoint == ckpt / "last.ckpt"
    other = fingerprint({**cfg.model_dump(), "seed": 1}, root / "prepared")
    assert other != print_
    fresh = ResumePoint.find(ckpt, other)  # other params: the old checkpoints are stale
    assert fresh.checkpoint is None and fresh.run_id is None
    assert not (ckpt / "last.ckpt").exists() and not (ckpt / "resume.json").exists()


def test_an_unreadable_checkpoint_stops_with_a_clear_message(setup, tmp_path):
    cfg, root = setup
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "last.ckpt").write_bytes(b"PK not a checkpoint")
    print_ = fingerprint(cfg.model_dump(), root / "prepared")
    ResumePoint(ckpt, print_).started(None, "sqlite:///mlflow.db")
    with pytest.raises(UserError, match="not a readable checkpoint"):
        ResumePoint.find(ckpt, print_)
    assert (ckpt / "last.ckpt").exists()  # left for the user to look at
