"""Security rules that must hold across the code base (read from the source itself)."""

from __future__ import annotations

import re

SOURCES = ["src/transformer_mlops", "pipelines"]


def python_files(root):
    for folder in SOURCES:
        yield from sorted((root / folder).rglob("*.py"))


def test_no_remote_code_and_every_torch_load_is_weights_only(root):
    for path in python_files(root):
        text = path.read_text()
        assert "trust_remote_code" not in text, path
        assert not re.search(r"\bpickle\.loads?\(", text), path
        for call in re.findall(r"torch\.load\(([^)]*)\)", text):
            assert "weights_only=True" in call, f"{path}: torch.load({call})"


def test_servers_bind_loopback_by_default(root):
    cli = (root / "src/transformer_mlops/cli.py").read_text()
    assert '"127.0.0.1"' in cli and "0.0.0.0" not in cli


def test_tracking_credentials_are_redacted():
    from transformer_mlops.secrets import redact

    uri = "postgresql+psycopg2://mlflow:s3cret@db.internal:5432/mlflow"
    assert "s3cret" not in redact(uri) and "db.internal" in redact(uri)
    assert redact("https://user:token@mlflow.example/") == "https://***@mlflow.example/"
