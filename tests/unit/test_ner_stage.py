"""NER fine-tuning on a tiny synthetic sample: real Lightning, real MiniLM, a few steps."""

from __future__ import annotations

import json

import pytest
from transformers import pipeline

from transformer_mlops.config import SyntheticConfig, parse_params
from transformer_mlops.data.synthetic import generate
from transformer_mlops.io import write_jsonl
from transformer_mlops.tasks.ner import train


@pytest.fixture(scope="module")
def trained(tmp_path_factory, default_params_raw):
    root = tmp_path_factory.mktemp("ner")
    for split, rows in generate(
        "ner", SyntheticConfig(train=96, validation=32, test=16), seed=0
    ).items():
        write_jsonl(root / "prepared" / f"{split}.jsonl", rows)
    raw = json.loads(json.dumps(default_params_raw))
    raw["ner"]["train"] = {"batch_size": 16, "eval_batch_size": 32,
                           "optimizer": {"lr": 1e-4, "warmup_steps": 2, "schedule": "linear"},
                           "trainer": {"max_epochs": 1, "precision": "32-true", "log_every_n_steps": 2}}  # fmt: skip
    cfg = parse_params(raw).ner
    summary = train(
        cfg, root / "prepared", root / "model", root / "ckpt", enable_progress_bar=False
    )
    return root, summary


def test_training_runs_and_reports(trained):
    _, summary = trained
    assert summary["global_step"] == 6  # 96 sentences / 16
    assert 0.0 <= summary["best_val_f1"] <= 1.0
    assert summary["train_tokens_per_second"] > 0


def test_saved_model_loads_in_a_transformers_pipeline_with_offsets(trained):
    root, _ = trained
    config = json.loads((root / "model" / "config.json").read_text())
    assert config["id2label"]["1"] == "B-PER" and config["label2id"]["O"] == 0
    assert (root / "model" / "model.safetensors").is_file()
    tagger = pipeline("token-classification", model=str(root / "model"), ignore_labels=[])
    text = "Angela Merkel met Tim Cook in Paris."
    tokens = tagger(text)
    assert len(tokens) >= 8 and {t["entity"] for t in tokens} <= set(config["label2id"])
    for token in tokens:  # offsets point into the original (cased) text
        assert text[token["start"] : token["end"]].lower() == token["word"].removeprefix("##")
