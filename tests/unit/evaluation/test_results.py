"""docs/results.md is generated from reports/ and kept current."""

from __future__ import annotations

import json

from transformer_mlops.evaluation.results import render, write_results


def test_docs_results_is_the_render_of_the_committed_reports(root):
    written = (root / "docs" / "results.md").read_text(encoding="utf-8")
    assert written == render(root / "reports"), (
        "docs/results.md is stale: regenerate it with `dvc repro results`"
    )


def test_render_shows_metrics_groups_speed_and_missing_reports(tmp_path):
    (tmp_path / "metrics").mkdir()
    (tmp_path / "speed").mkdir()
    metrics = {"test/f1": 0.5, "test/per_type": {"PER": {"f1": 0.25, "support": 4}}}
    (tmp_path / "metrics" / "ner.json").write_text(json.dumps(metrics))
    (tmp_path / "speed" / "ner.json").write_text(json.dumps({"train/precision": "32-true"}))
    write_results(tmp_path, tmp_path / "out" / "results.md")
    page = (tmp_path / "out" / "results.md").read_text()
    assert "| `test/f1` | 0.5 |" in page
    assert "| PER | 0.25 | 4 |" in page
    assert "| ner | 32-true |" in page
    assert page.count("(no report yet: run `dvc repro`)") == 2  # scratch and qa
    assert "(not run yet)" in page  # no benchmarks


def test_closing_summary_names_scores_champions_reports_and_the_ui(tmp_path):
    from transformer_mlops.evaluation.results import closing_summary

    for folder in ("metrics", "runs"):
        (tmp_path / folder).mkdir()
    (tmp_path / "metrics" / "ner.json").write_text(json.dumps({"test/f1": 91.25}))
    (tmp_path / "runs" / "ner.json").write_text(
        json.dumps({"tracking_uri": "http://mlflow.example:5000"})
    )
    registry = {"ner": {"version": "4", "decision": "kept champion: ...", "champion_before": "3"}}
    (tmp_path / "registry.json").write_text(json.dumps(registry))
    text = closing_summary(tmp_path)
    assert "entity F1 % 91.25" in text and "registered v4, champion v3" in text
    assert "scratch  (not evaluated)" in text and "not registered" in text
    assert "docs/results.md" in text and "dvc plots show" in text
    assert "MLflow UI: open http://mlflow.example:5000" in text
