"""The CI profile overlay and the metrics drift check."""

from __future__ import annotations

import json

import pytest
import yaml

from transformer_mlops.errors import ConfigError
from transformer_mlops.profiles import apply_profile, check_metrics, markdown_table, merge


def test_merge_overrides_nested_keys_and_rejects_typos():
    base = {"ner": {"train": {"batch_size": 32, "seed": 42}, "model": "m"}}
    assert merge(base, {"ner": {"train": {"batch_size": 8}}}) == {
        "ner": {"train": {"batch_size": 8, "seed": 42}, "model": "m"}
    }
    with pytest.raises(ConfigError, match=r"ner\.train\.batchsize: not a params key"):
        merge(base, {"ner": {"train": {"batchsize": 8}}})


@pytest.mark.parametrize("profile", [".ci/params-ci.yaml", "tests/params-tiny.yaml"])
def test_the_profiles_apply_to_the_default_params(root, tmp_path, profile):
    params = tmp_path / "params.yaml"
    params.write_text((root / "params.yaml").read_text())
    merged = apply_profile(root / profile, params)
    assert merged["qa"]["max_length"] == 160
    for task in ("seq2seq", "ner", "qa"):  # fp32: a CPU with fast bf16 computes the same
        assert merged[task]["train"]["trainer"]["precision"] == "32-true"
    assert yaml.safe_load(params.read_text()) == merged
    bad = tmp_path / "bad.yaml"
    bad.write_text("qa: {doc_stride: 500}\n")  # valid key, invalid value: params stay as they were
    before = params.read_text()
    with pytest.raises(ConfigError, match="doc_stride"):
        apply_profile(bad, params)
    assert params.read_text() == before


def test_check_metrics_exact_and_with_tolerance(tmp_path):
    expected, actual = tmp_path / "expected", tmp_path / "actual"
    for folder, f1 in ((expected, 0.90), (actual, 0.91)):
        folder.mkdir()
        for task in ("scratch", "ner", "qa"):
            (folder / f"{task}.json").write_text(
                json.dumps({"test/f1": f1, "test/per_type": {"PER": 1.0}})
            )
    ok, rows = check_metrics(expected, actual, tolerance=0.0)
    assert not ok and {r["metric"] for r in rows if not r["ok"]} == {"test/f1"}
    ok, rows = check_metrics(expected, actual, tolerance=0.02)
    assert ok and len(rows) == 6
    assert "| ner.json | test/f1 | 0.9 | 0.91 | +0.01 | ok |" in markdown_table(rows, 0.02)
    (actual / "qa.json").write_text("{}")
    ok, rows = check_metrics(expected, actual, tolerance=1.0)
    assert not ok  # a metric that disappeared is drift too


def test_a_broken_profile_names_its_file_and_line_and_leaves_params_alone(root, tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text((root / "params.yaml").read_text())
    before = params.read_text()
    broken = tmp_path / "broken.yaml"
    broken.write_text("ner:\n  train:\n    batch_size: [16\n")
    with pytest.raises(ConfigError, match=r"broken\.yaml:\d+: not valid YAML \("):
        apply_profile(broken, params)
    broken.write_text("- ner\n- qa\n")
    with pytest.raises(ConfigError, match=r"broken\.yaml: expected a mapping .*list"):
        apply_profile(broken, params)
    assert params.read_text() == before
