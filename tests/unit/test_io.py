from __future__ import annotations

import json
import os

import pytest

from transformer_mlops.io import (
    atomic_dir,
    atomic_write_text,
    dump_json,
    read_jsonl,
    write_json,
    write_jsonl,
)


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


@pytest.mark.parametrize(
    ("umask", "file_mode", "dir_mode"), [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700)]
)
def test_outputs_get_the_modes_of_the_process_umask(tmp_path, umask, file_mode, dir_mode):
    old = os.umask(umask)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
        with atomic_dir(tmp_path / "folder") as folder:
            (folder / "inner.txt").write_text("y")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == file_mode
    assert (tmp_path / "folder").stat().st_mode & 0o777 == dir_mode


# ------------------------------------------------------------------------ a real full disk


@pytest.fixture
def full_disk(tmp_path):
    """A 1 MB tmpfs (needs root and mount rights; skipped elsewhere, e.g. GitHub's runner)."""
    import subprocess

    mount = tmp_path / "small"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
                          capture_output=True)  # fmt: skip
    if made.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


def test_a_full_disk_keeps_the_previous_file_and_says_so(full_disk):
    import torch
    from safetensors.torch import save_file

    from transformer_mlops.runner import file_system_message
    from transformer_mlops.tasks.trainer import AtomicCheckpointIO

    report = full_disk / "report.json"
    write_json(report, {"good": True})
    with pytest.raises(OSError) as raised:
        atomic_write_text(report, "x" * 2_000_000)
    assert "the disk is full" in file_system_message(raised.value)
    assert json.loads(report.read_text()) == {"good": True}
    big = {"w": torch.zeros(400_000)}  # 1.6 MB
    with pytest.raises(OSError) as raised, atomic_dir(full_disk / "model") as tmp:
        save_file(big, str(tmp / "model.safetensors"))  # safetensors' own error, turned back
    assert "cannot write" in file_system_message(raised.value)
    assert "the disk is full" in file_system_message(raised.value)
    with pytest.raises(OSError) as raised:
        AtomicCheckpointIO().save_checkpoint(big, full_disk / "last.ckpt")  # torch's own error
    assert "the disk is full" in file_system_message(raised.value)
    assert sorted(p.name for p in full_disk.iterdir()) == ["report.json"]


def test_data_files_reads_a_path_or_a_glob_and_only_files(tmp_path):
    from transformer_mlops.io import data_files

    (tmp_path / "b.txt").write_text("b")
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "c.txt").mkdir()  # a folder the glob matches too
    assert data_files("*.txt", tmp_path) == [tmp_path / "a.txt", tmp_path / "b.txt"]
    assert data_files("a.txt", tmp_path) == [tmp_path / "a.txt"]
    assert data_files("c.txt", tmp_path) == data_files("none*.txt", tmp_path) == []
    assert data_files(str(tmp_path / "b.txt")) == [tmp_path / "b.txt"]
