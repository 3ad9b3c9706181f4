"""QA fine-tuning in Keras (qa.framework: tensorflow) on a tiny synthetic sample: real
TensorFlow, real MiniLM weights, a few `model.fit` steps. Skipped without TensorFlow."""

from __future__ import annotations

import json

import pytest
import torch

pytest.importorskip("tensorflow")
pytest.importorskip("keras")

from tests.conftest import tiny_params, write_synthetic
from transformer_mlops.config import parse_params
from transformer_mlops.errors import ConfigError


@pytest.fixture(scope="module")
def qa_cfg(default_params_raw):
    raw = tiny_params(default_params_raw)
    raw["qa"].update(max_length=128, doc_stride=32, framework="tensorflow")
    raw["qa"]["train"] = {"batch_size": 16, "eval_batch_size": 32, "freeze_word_embeddings": True,
                          "freeze_layers": 1, "evidence": {"weight": 1.0, "layer": -2},
                          "optimizer": {"lr": 3e-4, "warmup_steps": 2, "schedule": "linear"},
                          "trainer": {"max_epochs": 2, "precision": "32-true", "log_every_n_steps": 1,
                                      "checkpoint_every_n_steps": 3}}  # fmt: skip
    return parse_params(raw).qa


class Recorder:
    """The stage's MLflow logger, as `train` uses it."""

    def __init__(self):
        self.metrics: list[tuple[int, dict]] = []

    def log_metrics(self, metrics: dict, step: int) -> None:
        self.metrics.append((step, metrics))


@pytest.fixture(scope="module")
def trained(tmp_path_factory, qa_cfg):
    from transformer_mlops.tasks.qa_keras import train

    root = tmp_path_factory.mktemp("qa_keras")
    write_synthetic("qa", root / "prepared", train=64, validation=24, test=16)
    logger = Recorder()
    summary = train(qa_cfg, root / "prepared", root / "model", root / "ckpt", logger=logger)
    return root, summary, logger


def test_model_fit_trains_and_reports_like_the_pytorch_stage(trained):
    _, summary, logger = trained
    per_epoch = -(-summary["windows"]["train"] // 16)
    assert summary["global_step"] == 2 * per_epoch
    assert summary["framework"] == "tensorflow" and summary["precision"] == "32-true"
    assert summary["train_tokens_per_second"] > 0 and 0.0 <= summary["best_val_f1"] <= 100.0
    losses = [row["train_loss"] for row in summary["plots"]["train_loss"]]
    assert len(losses) == 2 * per_epoch
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3  # the loss moves down
    assert [row["step"] for row in summary["plots"]["val"]] == [per_epoch, 2 * per_epoch]
    logged = {name for _, metrics in logger.metrics for name in metrics}
    assert {"train/loss", "val/f1", "val/exact_match", "val/loss"} <= logged


def test_the_saved_folder_is_a_hugging_face_qa_model_with_a_saved_model(trained):
    import tensorflow as tf
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    root, _, _ = trained
    config = json.loads((root / "model/config.json").read_text())
    assert config["architectures"] == ["BertForQuestionAnswering"]
    assert config["transformer_mlops"]["framework"] == "tensorflow"
    model = AutoModelForQuestionAnswering.from_pretrained(root / "model").eval()
    tokenizer = AutoTokenizer.from_pretrained(root / "model")
    inputs = tokenizer("Where is Mary?", "Mary went to the kitchen.", return_tensors="pt")
    with torch.no_grad():
        expected = model(**inputs)
    serve = tf.saved_model.load(str(root / "model/saved_model")).signatures["serving_default"]
    got = serve(**{k: tf.constant(v.numpy()) for k, v in inputs.items()})
    assert abs(got["start_logits"].numpy() - expected.start_logits.numpy()).max() < 1e-4


@pytest.mark.slow  # two more fits: over two minutes
def test_a_resumed_fit_ends_with_the_uninterrupted_weights(trained, qa_cfg, tmp_path):
    """Killed after step 4 (last.ckpt written at step 3, mid-epoch), resumed from it: the same
    final weights as the uninterrupted run, bit for bit (XLA-compiled steps are deterministic)."""
    import keras
    from safetensors.torch import load_file

    from transformer_mlops.tasks.qa_keras import train

    class Kill(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if int(self.model.optimizer.iterations.numpy()) == 4:
                raise KeyboardInterrupt

    root, summary, _ = trained
    with pytest.raises(KeyboardInterrupt):
        train(qa_cfg, root / "prepared", tmp_path / "model", tmp_path / "ckpt", callbacks=[Kill()])
    assert (tmp_path / "ckpt/last.ckpt").is_file() and not (tmp_path / "model").exists()
    resumed = train(qa_cfg, root / "prepared", tmp_path / "model", tmp_path / "ckpt",
                    ckpt_path=tmp_path / "ckpt/last.ckpt")  # fmt: skip
    assert resumed["global_step"] == summary["global_step"]
    assert resumed["plots"]["val"] == summary["plots"]["val"]
    first = load_file(root / "model/model.safetensors")
    second = load_file(tmp_path / "model/model.safetensors")
    assert all(torch.equal(first[k], second[k]) for k in first)  # bit for bit: XLA on CPU


def test_settings_the_keras_path_cannot_honour_are_refused(qa_cfg):
    from transformer_mlops.tasks.qa_keras import check_settings

    trainer = qa_cfg.train.trainer.model_copy(update={"strategy": "ddp", "devices": 2})
    with pytest.raises(ConfigError, match="devices/num_nodes/strategy"):
        check_settings(
            qa_cfg.model_copy(
                update={"train": qa_cfg.train.model_copy(update={"trainer": trainer})}
            )
        )
    decayed = qa_cfg.train.model_copy(update={"layer_lr_decay": 0.9})
    with pytest.raises(ConfigError, match=r"^qa\.train\.layer_lr_decay = 0\.9: .* one LR"):
        check_settings(qa_cfg.model_copy(update={"train": decayed}))
