"""train() and evaluate() of the scratch model on a tiny date set: real Lightning, a few steps."""

from __future__ import annotations

import json

import pytest

from tests.conftest import tiny_params, write_synthetic
from transformer_mlops.config import parse_params
from transformer_mlops.evaluation.seq2seq import evaluate
from transformer_mlops.inference.scratch import load_scratch_model, translate
from transformer_mlops.tasks.seq2seq import train


@pytest.fixture(scope="module")
def trained(tmp_path_factory, default_params_raw):
    root = tmp_path_factory.mktemp("scratch")
    write_synthetic("seq2seq", root / "prepared", train=256, validation=64, test=32)
    raw = tiny_params(default_params_raw)
    raw["seq2seq"]["train"].update(batch_size=32, val_decode_limit=32)
    raw["seq2seq"]["train"]["trainer"].update(max_epochs=2, log_every_n_steps=2)
    raw["seq2seq"]["eval"].update(beam_size=2)
    cfg = parse_params(raw).seq2seq
    summary = train(
        cfg, root / "prepared", root / "model", root / "ckpt", enable_progress_bar=False
    )
    return cfg, root, summary


def test_train_saves_a_loadable_model_with_history(trained):
    _cfg, root, summary = trained
    assert summary["global_step"] == 16  # 2 epochs x 256/32 batches
    assert {p.name for p in (root / "model").iterdir()} == {
        "model.safetensors",
        "config.json",
        "tokenizer.json",
    }
    assert [entry["step"] for entry in summary["plots"]["val"]] == [8, 16]
    assert summary["train_tokens_per_second"] > 0
    model, tokenizer = load_scratch_model(root / "model")
    (output,) = translate(model, tokenizer, ["3rd of March 1987"])
    assert isinstance(output, str)
    assert (root / "ckpt" / "best.ckpt").is_file() and (root / "ckpt" / "last.ckpt").is_file()


def test_evaluate_writes_metrics_errors_and_attention_plots(trained):
    cfg, root, _ = trained
    model, tokenizer = load_scratch_model(root / "model")
    metrics = evaluate(
        model,
        tokenizer,
        root / "prepared",
        cfg.eval,
        root / "m.json",
        root / "d.json",
        root / "e.json",
        root / "plots",
    )
    assert metrics["test/examples"] == 32
    assert 0.0 <= metrics["test/exact_match"] <= 100.0 and metrics["test/loss"] > 0
    headline = json.loads((root / "m.json").read_text())
    assert set(headline) == {
        "test/exact_match",
        "test/bleu",
        "test/chrf",
        "test/loss",
        "test/examples",
    }
    assert set(json.loads((root / "d.json").read_text())) == {
        "test/token_acc",
        "test/exact_match_by_format",
    }
    by_format = metrics["test/exact_match_by_format"].values()
    assert sum(f["examples"] for f in by_format) == 32
    assert (root / "plots" / "attention_0.png").read_bytes()[:4] == b"\x89PNG"
    errors = json.loads((root / "e.json").read_text())
    assert all(e["prediction"] != e["target"] for e in errors)


def test_cli_predict_scratch_loads_the_model(trained):
    from typer.testing import CliRunner

    from transformer_mlops.cli import app

    _, root, _ = trained
    result = CliRunner().invoke(
        app, ["predict", "scratch", "--model", str(root / "model"), "1 May 2001"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output.strip().splitlines()[-1])["input"] == "1 May 2001"
    empty = CliRunner().invoke(app, ["predict", "scratch", "--model", str(root / "model"), " "])
    assert empty.exit_code == 2 and "empty text" in empty.output
