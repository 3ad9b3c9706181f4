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
    with pytest.raises(ConfigError, match=r"bad\.yaml:\d+: not valid YAML \("):  # line, problem
        load_params(bad)
    bad.write_text(yaml.safe_dump([1, 2]))
    with pytest.raises(ConfigError, match=r"expected a mapping of .*, found list"):
        load_params(bad)


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("seq2seq.model.n_heads", 3, ["seq2seq.model", "d_model (128) must be a multiple of n_heads (3)"]),
        ("seq2seq.model.dropout", 1.5, ["seq2seq.model", "dropout must be in [0, 1)"]),
        ("seq2seq.model.n_encoder_layers", 0, ["seq2seq.model", "n_encoder_layers must be at least 1"]),
        ("ner.train.trainer.max_epochs", -5, ["ner.train.trainer.max_epochs", "greater than or equal to -1"]),
        ("qa.train.trainer.precision", "bf17", ["qa.train.trainer.precision", "'bf16-mixed'"]),
        ("qa.train.trainer.accelerator", "tpu-ish", ["qa.train.trainer.accelerator", "'cpu'"]),
        ("ner.train.trainer.num_nodes", 0, ["ner.train.trainer.num_nodes"]),
    ],
)  # fmt: skip
def test_structural_rules_name_the_key(default_params_raw, key, value, words):
    raw = copy.deepcopy(default_params_raw)
    *parents, last = key.split(".")
    node = raw
    for part in parents:
        node = node[part]
    node[last] = value
    with pytest.raises(ConfigError) as error:
        parse_params(raw)
    for word in words:
        assert word in str(error.value), str(error.value)


def test_an_accelerator_the_machine_lacks_is_refused(default_params_raw):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    raw = copy.deepcopy(default_params_raw)
    raw["ner"]["train"]["trainer"]["accelerator"] = "gpu"
    with pytest.raises(
        ConfigError, match=r"ner.train.trainer: .*accelerator 'gpu': this machine has none"
    ):
        parse_params(raw)


def test_a_misspelt_top_level_section_is_an_error(default_params_raw):
    raw = copy.deepcopy(default_params_raw)
    raw["nerr"] = raw["ner"]
    with pytest.raises(
        ConfigError, match=r"nerr: unknown section; params.yaml has exactly seq2seq, ner, qa"
    ):
        parse_params(raw)
