"""The promotion gate, alias history and rollback against a real MLflow registry (SQLite)."""

from __future__ import annotations

import json
from unittest.mock import ANY

import pytest

from transformer_mlops.errors import UserError
from transformer_mlops.hashing import dvc_md5
from transformer_mlops.secrets import redact
from transformer_mlops.tracking.registry import (
    FORMAT_TAG,
    FROM_CODE,
    HISTORY_TAG,
    UNIT_TAG,
    gate,
    move_alias,
    promote,
    rollback,
)
from transformer_mlops.tracking.runs import flatten


@pytest.fixture
def client(tmp_path, monkeypatch):
    import mlflow
    from mlflow import MlflowClient

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    client = MlflowClient()
    client.create_registered_model("ner")
    (tmp_path / "weights").mkdir()
    for f1 in ("0.80", "0.85", "0.83"):
        version = client.create_model_version("ner", source=str(tmp_path / "weights"))
        client.set_model_version_tag("ner", version.version, "test/f1", f1)
        client.set_model_version_tag("ner", version.version, "test_data_md5", "abc")
        client.set_model_version_tag("ner", version.version, FORMAT_TAG, FROM_CODE)
        client.set_model_version_tag("ner", version.version, UNIT_TAG, "percent")
    return client


def test_gate_promotes_only_a_better_model_on_the_same_test_data(client):
    assert gate("1", 0.8, "abc", "test/f1", None) == "promoted: no champion yet"
    move_alias(client, "ner", "champion", "1", "first")
    champion = client.get_model_version_by_alias("ner", "champion")
    assert gate("2", 0.85, "abc", "test/f1", champion).startswith(
        "promoted: test/f1 0.8500 > champion 0.8000"
    )
    assert gate("2", 0.80, "abc", "test/f1", champion).startswith(
        "kept champion: test/f1 0.8000 <= champion"
    )
    assert gate("2", 0.99, "other", "test/f1", champion) == (
        "kept champion: its test data differs (not comparable)"
    )
    assert gate("1", 0.8, "abc", "test/f1", champion) == "already champion"
    client.delete_model_version_tag("ner", "1", UNIT_TAG)  # registered when F1 was a fraction
    older = client.get_model_version_by_alias("ner", "champion")
    assert gate("2", 85.0, "abc", "test/f1", older).startswith(
        "kept champion: its test/f1 is not in percent"
    )
    client.set_model_version_tag("ner", "1", UNIT_TAG, "percent")
    client.delete_model_version_tag("ner", "1", FORMAT_TAG)  # registered as a pickle, before
    pickled = client.get_model_version_by_alias("ner", "champion")
    assert gate("2", 0.5, "abc", "test/f1", pickled) == (
        "promoted: the champion is a pickled model, which tmlops refuses to load"
    )


def test_alias_moves_are_recorded_and_rollback_returns_to_the_previous_champion(client, tmp_path):
    move_alias(client, "ner", "champion", "1", "no champion yet")
    move_alias(client, "ner", "champion", "2", "better")
    moved = rollback("ner")
    assert moved["from"] == "2" and moved["to"] == "1" and moved["why"] == "rollback from version 2"
    assert str(client.get_model_version_by_alias("ner", "champion").version) == "1"
    history = json.loads(client.get_registered_model("ner").tags[HISTORY_TAG])
    assert [(m["from"], m["to"]) for m in history] == [(None, "1"), ("1", "2"), ("2", "1")]
    assert all(m["who"] and m["when"] for m in history)
    version_tag = json.loads(client.get_model_version("ner", "1").tags["champion.moved"])
    assert version_tag["why"] == "rollback from version 2"
    report = json.loads((tmp_path / "reports/registry-moves.json").read_text())
    assert report["ner"]["rolled_back"]["to"] == "1"


def test_promote_by_hand_records_the_reason_and_rejects_unknown_versions(client, tmp_path):
    move_alias(client, "ner", "champion", "1", "no champion yet")
    moved = promote("ner", "3", "  test data changed; v3 scored 0.83 on it ")
    assert (moved["from"], moved["to"]) == ("1", "3")
    assert moved["why"] == "promoted by hand: test data changed; v3 scored 0.83 on it"
    assert str(client.get_model_version_by_alias("ner", "champion").version) == "3"
    history = json.loads(client.get_registered_model("ner").tags[HISTORY_TAG])
    assert [(m["from"], m["to"]) for m in history] == [(None, "1"), ("1", "3")]
    report = json.loads((tmp_path / "reports/registry-moves.json").read_text())
    assert report["ner"]["promoted"]["to"] == "3" and len(report["ner"]["history"]) == 2
    assert rollback("ner")["to"] == "1"  # a manual promotion can be rolled back like any other
    with pytest.raises(UserError, match=r"has no version '7' \(versions: 1, 2, 3\)"):
        promote("ner", "7", "typo")
    with pytest.raises(UserError, match="say why"):
        promote("ner", "2", " ")
    with pytest.raises(UserError, match="version 1 is already the champion"):
        promote("ner", "1", "again")
    assert str(client.get_model_version_by_alias("ner", "champion").version) == "1"


def test_rollback_walks_back_through_three_champions(client):
    for version in ("1", "2", "3"):
        move_alias(client, "ner", "champion", version, "better")
    assert rollback("ner")["to"] == "2"
    assert rollback("ner")["to"] == "1"  # not back to 3: each rollback goes one further
    with pytest.raises(UserError, match="version 1 was the first champion"):
        rollback("ner")
    move_alias(client, "ner", "champion", "3", "better again")  # 1 -> 3, then back to 1
    assert rollback("ner") == {**rollback_move("3", "1"), **{"who": ANY, "when": ANY}}


def rollback_move(old: str, new: str) -> dict:
    return {"alias": "champion", "from": old, "to": new, "why": f"rollback from version {old}"}


def test_rollback_without_an_earlier_champion_is_a_clear_error(client):
    with pytest.raises(UserError, match="has no champion"):
        rollback("ner")
    move_alias(client, "ner", "champion", "1", "first")
    with pytest.raises(UserError, match="was the first champion"):
        rollback("ner")


def test_credentials_are_redacted_from_uris():
    assert (
        redact("https://alice:s3cret@mlflow.example.com:8443/x")
        == "https://***@mlflow.example.com:8443/x"
    )
    assert redact("postgresql://bob:pw@db/mlflow") == "postgresql://***@db/mlflow"
    assert redact("sqlite:///mlflow.db") == "sqlite:///mlflow.db"


def test_dvc_md5_matches_what_dvc_records(tmp_path):
    # dvc.lock of this repo records data/prepared/<task> directories with these hashes
    folder = tmp_path / "d"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("a\n")
    (folder / "sub" / "b.txt").write_text("b\n")
    # md5("a\n") and md5("b\n") and the listing, computed by hand the way DVC does
    import hashlib

    entries = [
        {"md5": hashlib.md5(b"a\n").hexdigest(), "relpath": "a.txt"},
        {"md5": hashlib.md5(b"b\n").hexdigest(), "relpath": "sub/b.txt"},
    ]
    expected = hashlib.md5(json.dumps(entries, sort_keys=True).encode()).hexdigest() + ".dir"
    assert dvc_md5(folder) == expected
    assert dvc_md5(folder / "a.txt") == entries[0]["md5"]


def test_flatten_params():
    assert flatten({"train": {"lr": 1, "betas": [0.9, 0.99]}, "model": "m"}) == {
        "train.lr": 1, "train.betas": [0.9, 0.99], "model": "m"}  # fmt: skip


def test_an_unreachable_tracking_server_stops_the_stage_before_training(tmp_path, monkeypatch):
    import socket

    from transformer_mlops.tracking.connection import TrackingError
    from transformer_mlops.tracking.runs import stage_run

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.chdir(tmp_path)
    for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):  # set from the URI
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://alice:s3cret@127.0.0.1:{port}")
    trained = []
    with (
        pytest.raises(TrackingError) as error,
        stage_run("ner", "finetune_ner", {"a": 1}, data_task="ner"),
    ):
        trained.append(True)
    message = str(error.value)
    assert f"http://127.0.0.1:{port}: connection refused" in message
    assert "s3cret" not in message and "MLFLOW_TRACKING_URI" in message
    assert not trained and not (tmp_path / "reports").exists()


def test_a_saved_model_beside_the_hf_files_is_not_registered(tmp_path):
    """qa.framework: tensorflow leaves a TF SavedModel (a graph that runs when loaded) in the
    model folder: the registry logs the Hugging Face files only; other folders go as they are."""
    from transformer_mlops.tracking.registry import registered_files

    folder = tmp_path / "qa"
    (folder / "saved_model/variables").mkdir(parents=True)
    (folder / "saved_model/saved_model.pb").write_bytes(b"graph")
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        (folder / name).write_text("{}")
    with registered_files(str(folder)) as logged:
        assert sorted(p.name for p in (tmp_path / logged).iterdir()) == [
            "config.json", "model.safetensors", "tokenizer.json"]  # fmt: skip
    assert (folder / "saved_model/saved_model.pb").is_file()  # the DVC output is untouched
    (folder / "saved_model/saved_model.pb").unlink()
    (folder / "saved_model/variables").rmdir()
    (folder / "saved_model").rmdir()
    with registered_files(str(folder)) as logged:
        assert logged == str(folder)
