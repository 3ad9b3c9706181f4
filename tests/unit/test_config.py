from __future__ import annotations

import copy

import pytest
import yaml

from transformer_mlops.config import load_params, parse_params
from transformer_mlops.errors import ConfigError


def test_default_params_load(root):
    params = load_params(root / "params.yaml")
    assert params.ner.data.source == "synthetic"
    assert params.task("qa").data.files.format in ("squad", "babi")


def test_wrong_type_names_the_key(default_params_raw):
    raw = copy.deepcopy(default_params_raw)
    raw["ner"]["data"]["synthetic"]["train"] = "many"
    with pytest.raises(ConfigError, match=r"ner\.data\.synthetic\.train.*'many'"):
        parse_params(raw)


def test_unknown_source_is_rejected(default_params_raw):
    raw = copy.deepcopy(default_params_raw)
    raw["qa"]["data"]["source"] = "kaggle"
    with pytest.raises(ConfigError, match=r"qa\.data\.source.*'synthetic', 'files' or 'hub'"):
        parse_params(raw)


def test_unknown_key_is_rejected_not_ignored(default_params_raw):
    raw = copy.deepcopy(default_params_raw)
    raw["seq2seq"]["data"]["sead"] = 3
    with pytest.raises(ConfigError, match=r"seq2seq\.data\.sead"):
        parse_params(raw)


def test_format_must_fit_the_task(default_params_raw):
    raw = copy.deepcopy(default_params_raw)
    raw["ner"]["data"]["files"]["format"] = "squad"
    with pytest.raises(ConfigError, match=r"ner\.data\.files\.format: 'squad' is not a ner format"):
        parse_params(raw)


@pytest.mark.parametrize(("max_length", "doc_stride"), [(384, 384), (384, 200), (128, 500)])
def test_qa_doc_stride_must_leave_windows_room_to_advance(
    default_params_raw, max_length, doc_stride
):
    raw = copy.deepcopy(default_params_raw)
    raw["qa"].update(max_length=max_length, doc_stride=doc_stride)
    with pytest.raises(
        ConfigError, match=rf"qa: .*doc_stride \({doc_stride}\) must be less than half"
    ):
        parse_params(raw)


def test_unknown_task_and_missing_file(root, tmp_path):
    with pytest.raises(ConfigError, match="unknown task 'pos'"):
        load_params(root / "params.yaml").task("pos")
    with pytest.raises(ConfigError, match="params file not found"):
        load_params(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("ner: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_params(bad)
    bad.write_text(yaml.safe_dump([1, 2]))
    with pytest.raises(ConfigError, match="mapping at the top level"):
        load_params(bad)
