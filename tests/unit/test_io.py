from __future__ import annotations

import pytest

from transformer_mlops.io import atomic_dir, atomic_write_text, dump_json, read_jsonl, write_jsonl


def test_atomic_dir_keeps_the_old_output_when_the_block_fails(tmp_path):
    out = tmp_path / "prepared"
    with atomic_dir(out) as tmp:
        (tmp / "train.jsonl").write_text("old\n")
    with pytest.raises(RuntimeError), atomic_dir(out) as tmp:
        (tmp / "train.jsonl").write_text("half")
        raise RuntimeError("crash in the middle")
    assert (out / "train.jsonl").read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prepared"]  # no temp left behind


def test_atomic_write_replaces_whole_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "m.json"
    atomic_write_text(path, "a")
    atomic_write_text(path, "b")
    assert path.read_text() == "b" and [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_json_is_stable_and_jsonl_round_trips(tmp_path):
    assert dump_json({"b": 1, "a": [1, 2]}) == dump_json({"a": [1, 2], "b": 1})
    rows = [{"id": "x", "tokens": ["É", "b"]}, {"id": "y", "tokens": []}]
    assert write_jsonl(tmp_path / "r.jsonl", rows) == 2
    assert read_jsonl(tmp_path / "r.jsonl") == rows
