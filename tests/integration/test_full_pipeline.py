"""The whole pipeline, tiny: one real `dvc repro` in a fresh git repo, then what users look at.

Trains all three models (a few steps each), evaluates them, tracks them in MLflow (the embedded
SQLite default) and registers them; later tests re-run with a worse setting, predict from the
registry and roll back. One module-scoped repro keeps the suite short.
"""

from __future__ import annotations

import json
import re
import sqlite3

import pytest
import yaml

from tests.integration.conftest import edit_params, run
from transformer_mlops.config import NerInference, QaInference, ScratchInference, load_params

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def project(tiny_full_project):
    return tiny_full_project


def read(project, path: str):
    return json.loads((project / path).read_text())


def test_scratch_stages_train_evaluate_and_report(project):
    metrics = read(project, "reports/metrics/scratch.json")
    assert metrics["test/examples"] == 40 and "test/bleu" in metrics
    speed = read(project, "reports/speed/scratch.json")
    assert speed["train/steps"] == 4 and speed["train/tokens_per_second"] > 0
    assert (project / "models/scratch/model.safetensors").is_file()
    assert (project / "reports/plots/scratch/attention/attention_0.png").is_file()


def assert_behaviour_checks(report: dict) -> None:
    """Each check has cases and a pass rate; minimum functionality and invariance are among
    at least three kinds of check."""
    checks = report["checks"]
    assert all(c["cases"] > 0 and 0.0 <= c["pass_rate"] <= 1.0 for c in checks)
    kinds = {c["check"].split(":")[0] for c in checks}
    assert {"minimum_functionality", "invariance"} <= kinds and len(kinds) >= 3
    assert 0.0 <= report["overall_pass_rate"] <= 1.0


def test_ner_stages_fine_tune_evaluate_and_check_behaviour(project):
    metrics = read(project, "reports/metrics/ner.json")
    assert metrics["test/examples"] == 40 and 0.0 <= metrics["test/f1"] <= 100.0
    assert set(read(project, "reports/details/ner.json")["test/per_type"]) <= {
        "PER",
        "LOC",
        "ORG",
        "MISC",
    }
    assert_behaviour_checks(read(project, "reports/behaviour/ner.json"))
    assert read(project, "models/ner/config.json")["id2label"]["0"] == "O"
    assert (project / "reports/plots/ner/confusion.png").is_file()
    assert read(project, "reports/speed/ner.json")["train/steps"] == 4


def test_qa_stages_fine_tune_evaluate_and_check_behaviour(project):
    metrics = read(project, "reports/metrics/qa.json")
    assert metrics["test/examples"] == 40 and "test/per_kind" in read(
        project, "reports/details/qa.json"
    )
    assert 0.0 <= metrics["test/exact_match"] <= metrics["test/f1"] <= 100.0
    assert_behaviour_checks(read(project, "reports/behaviour/qa.json"))
    assert (project / "models/qa/model.safetensors").is_file()
    assert (project / "reports/plots/qa/f1_by_context_length.png").is_file()
    speed = read(project, "reports/speed/qa.json")
    assert speed["train/steps"] == -(-speed["train/windows"]["train"] // 50)
    answer = run(["tmlops", "predict", "qa", "--context", "Mary went to the kitchen.",
                  "Where is Mary?"], project)  # fmt: skip
    result = json.loads(answer.stdout)
    assert "Mary went to the kitchen."[result["start"] : result["end"]] == result["answer"]


def test_metrics_shown_by_dvc_fit_a_terminal_and_a_second_repro_is_a_no_op(project):
    shown = run(["dvc", "metrics", "show"], project, env={"COLUMNS": "160"}).stdout
    for key in ("test/exact_match", "test/f1", "test/bleu"):
        assert key in shown
    speed = run(["dvc", "metrics", "show", "reports/speed/ner.json"], project).stdout
    assert "train/tokens_per_second" in speed  # timings: their own files
    assert max(len(line) for line in shown.splitlines()) <= 160, shown
    assert "per_type" not in shown and "by_format" not in shown  # the detail has its own file
    assert "Running stage" not in run(["dvc", "repro"], project).stdout


def test_the_repro_log_shows_progress_without_a_terminal_and_no_library_chatter(project):
    log = (project.parent / "repro-output.txt").read_text()  # stdout, then the stages' logs
    progress = re.findall(r"step \d+/\d+ \(\d+%\), epoch \d+, train/loss \S+, \S+ steps/s", log)
    assert len(progress) >= 3 * 4, log  # every step of the three 4-step trainings
    validated = re.findall(r"step \d+: validation (val/\w+)", log)
    assert {"val/exact_match", "val/f1"} <= set(validated), log
    for chatter in ("💡 Tip", "LOAD REPORT", "exists and is not empty", "\x1b[", "Loading weights"):
        assert chatter not in log, chatter
    summary = log.split("Results of the pipeline:")[1]  # the closing summary, last
    assert "entity F1 %" in summary and "champion v1" in summary
    assert "mlflow ui --backend-store-uri sqlite:///mlflow.db" in summary


def mlflow_client(project):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")


def test_every_training_stage_made_one_run_with_lineage_and_a_nested_evaluation_run(project):
    client = mlflow_client(project)
    lock = yaml.safe_load((project / "dvc.lock").read_text())["stages"]
    commit = run(["git", "rev-parse", "HEAD"], project).stdout.strip()
    for task, stage, data_task, key in [("scratch", "train_scratch", "seq2seq", "test/exact_match"),
                                        ("ner", "finetune_ner", "ner", "test/f1"),
                                        ("qa", "finetune_qa", "qa", "test/f1")]:  # fmt: skip
        experiment = client.get_experiment_by_name(f"transformer-mlops-{task}")
        runs = client.search_runs([experiment.experiment_id])
        (found,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
        (evaluation,) = [r for r in runs if r.info.run_id != found.info.run_id]
        assert read(project, f"reports/runs/{task}.json")["run_id"] == found.info.run_id
        tags = found.data.tags
        assert tags["dvc.stage"] == stage and tags["git.commit"] == commit
        # the code was clean: dvc.lock and reports rewritten by the pipeline do not count
        assert tags["git.dirty"] == "false"
        assert found.info.run_name == f"{stage} @{commit[:7]}"
        assert not any(k.startswith(("eval.", "data.files", "data.hub")) for k in found.data.params)
        assert evaluation.data.tags["mlflow.parentRunId"] == found.info.run_id
        assert evaluation.data.tags["dvc.stage"] == f"evaluate_{task}"
        assert key in evaluation.data.metrics and key not in found.data.metrics
        assert any(k.startswith("eval.") for k in evaluation.data.params)
        deps = {d["path"]: d["md5"] for d in lock[stage]["deps"]}
        assert tags[f"data.data/prepared/{data_task}"] == deps[f"data/prepared/{data_task}"]
        assert tags[f"data.reports/validation/{data_task}.json"] == deps[f"reports/validation/{data_task}.json"]  # fmt: skip
        inputs = {i.dataset.name: i for i in found.inputs.dataset_inputs}
        assert {f"{data_task}-train", f"{data_task}-validation", f"{data_task}-test"} <= set(inputs)
        assert found.data.params["train.seed"] == "42"
        assert "train/tokens_per_second" in found.data.metrics
        # streamed by Lightning's MLFlowLogger at each validation
        assert any(k.startswith("val/") for k in found.data.metrics)
        artifacts = {a.path for a in client.list_artifacts(evaluation.info.run_id, "reports")}
        assert "reports/params.yaml" in artifacts


def test_three_registered_models_each_with_a_champion(project):
    client = mlflow_client(project)
    registry = read(project, "reports/registry.json")
    for task in ("scratch", "ner", "qa"):
        champion = client.get_model_version_by_alias(task, "champion")
        challenger = client.get_model_version_by_alias(task, "challenger")
        assert str(champion.version) == str(challenger.version) == "1"
        assert registry[task]["decision"] == "promoted: no champion yet"
        assert champion.run_id == read(project, f"reports/runs/{task}.json")["run_id"]
        card = champion.description  # a short model card, and the alias history in the UI
        assert "Test metrics (percent)" in card and "Gate: promoted: no champion yet" in card
        description = client.get_registered_model(task).description
        assert "Alias history" in description and "| champion | - | 1 |" in description
    with sqlite3.connect(project / "mlflow.db") as db:
        names = {row[0] for row in db.execute("select name from registered_models")}
    assert names == {"scratch", "ner", "qa"}


def test_registered_models_carry_the_inference_settings_of_params(project):
    """One settings object per task: what params say is what evaluation used and what the
    registered model is served with (its MLmodel `model_config`)."""
    params = load_params(project / "params.yaml")
    expected = {
        "scratch": ScratchInference.of(params.seq2seq.eval).model_dump(),
        "ner": NerInference.of(params.ner).model_dump(),
        "qa": QaInference.of(params.qa).model_dump(),
    }
    for task, settings in expected.items():
        champion = mlflow_client(project).get_model_version_by_alias(task, "champion")
        found = [yaml.safe_load(p.read_text()) for p in (project / "mlartifacts").rglob("MLmodel")]
        configs = [m["flavors"].get("python_function", {}).get("config") for m in found
                   if m.get("run_id") == champion.run_id]  # fmt: skip
        assert settings in configs, f"{task}: {configs} != {settings}"


def test_predict_from_the_registry(project):
    out = run(["tmlops", "predict", "ner", "--model", "models:/ner@champion",
               "Angela Merkel met Tim Cook in Paris."], project)  # fmt: skip
    result = json.loads(out.stdout)
    assert result["text"] == "Angela Merkel met Tim Cook in Paris."
    for entity in result["entities"]:
        assert result["text"][entity["start"] : entity["end"]] == entity["text"]


def test_a_worse_run_becomes_challenger_not_champion_and_rollback_works(project):
    def worse(raw):
        raw["ner"]["train"]["trainer"].update(max_steps=1)

    edit_params(project, worse)
    run(["dvc", "repro"], project)
    client = mlflow_client(project)
    registry = read(project, "reports/registry.json")["ner"]
    assert str(client.get_model_version_by_alias("ner", "challenger").version) == "2"
    if registry["decision"].startswith("kept champion"):
        assert str(client.get_model_version_by_alias("ner", "champion").version) == "1"
    else:  # a tiny model can get luckier with one step: then the gate promoted it, on merit
        assert registry["value"] > registry["champion_value_before"]
        moved = run(["tmlops", "rollback", "ner"], project)
        assert json.loads(moved.stdout)["to"] == "1"
        assert str(client.get_model_version_by_alias("ner", "champion").version) == "1"
    moved = run(["tmlops", "promote", "ner", "2", "--why", "reviewed by hand"], project)
    assert json.loads(moved.stdout)["why"] == "promoted by hand: reviewed by hand"
    assert str(client.get_model_version_by_alias("ner", "champion").version) == "2"
    assert json.loads(run(["tmlops", "rollback", "ner"], project).stdout)["to"] == "1"
    history = read(project, "reports/registry-moves.json")["ner"]["history"]
    assert [move["to"] for move in history[-2:]] == ["2", "1"]  # the promotion, then the rollback
    assert all({"who", "when", "why", "from", "to"} <= set(move) for move in history)
    # the other tasks did not change: no new versions
    assert registry and read(project, "reports/registry.json")["qa"]["version"] == "1"


def test_new_inference_settings_register_a_new_version_of_the_same_run(project):
    edit_params(project, lambda raw: raw["seq2seq"]["eval"].update(beam_size=2))
    out = run(["dvc", "repro"], project).stdout
    assert "Running stage 'evaluate_scratch'" in out
    assert "Running stage 'train_scratch'" not in out  # decoding only: nothing retrains
    challenger = mlflow_client(project).get_model_version_by_alias("scratch", "challenger")
    assert str(challenger.version) == "2"
    assert challenger.run_id == read(project, "reports/runs/scratch.json")["run_id"]
    assert json.loads(challenger.tags["inference_settings"])["beam_size"] == 2
    # the new evaluation is a run of its own, with the params it used, under the same training
    client = mlflow_client(project)
    experiment = client.get_experiment_by_name("transformer-mlops-scratch").experiment_id
    newest = client.search_runs([experiment], "tags.dvc.stage = 'evaluate_scratch'",
                                order_by=["attributes.start_time DESC"])[0]  # fmt: skip
    assert newest.data.params["eval.beam_size"] == "2"
    assert newest.info.run_name == "evaluate_scratch seq2seq.eval.beam_size=2"
    assert newest.data.tags["mlflow.parentRunId"] == challenger.run_id


def test_compare_lists_runs_best_first_with_the_params_that_differ(project):
    out = run(["tmlops", "compare", "ner"], project).stdout
    header, _rule, *rows = out.split("\n\n")[0].splitlines()
    assert header.split()[:4] == ["run", "name", "started", "status"]
    assert "train.trainer.max_steps" in header and "test/f1" in header
    assert len(rows) == 2  # the first repro and the worse one
    column = header.index("test/f1")  # names have spaces ("evaluate_ner @<commit>"): by position
    f1 = [float(row[column:].split()[0]) for row in rows]
    assert f1 == sorted(f1, reverse=True)
    assert "params that differ: train.trainer.max_steps" in out
    assert (project / "reports/plots/compare/ner.png").read_bytes()[:4] == b"\x89PNG"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, server, seconds: int, what: str) -> None:
    """Poll `url` until it answers; fail with the server's output if it dies or is too slow."""
    import time
    import urllib.request

    deadline = time.time() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            assert server.poll() is None, server.stdout.read().decode()
            assert time.time() < deadline, f"{what} did not start in {seconds} s"
            time.sleep(1)


def test_serve_the_champion_on_loopback_and_refuse_oversized_requests(project):
    import os
    import subprocess
    import urllib.error
    import urllib.request

    from tests.integration.conftest import project_env

    port = free_port()
    server = subprocess.Popen(["tmlops", "serve", "ner", "--port", str(port)], cwd=project,
                              env=project_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              start_new_session=True)  # fmt: skip

    def post(payload: dict) -> tuple[int, dict]:
        request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations",
                                         data=json.dumps(payload).encode(),
                                         headers={"Content-Type": "application/json"})  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")

    try:
        wait_for_http(f"http://127.0.0.1:{port}/ping", server, 180, "server")
        text = "Angela Merkel met Tim Cook in Paris."
        status, body = post({"inputs": [text]})
        assert status == 200
        (result,) = body["predictions"]
        assert result["text"] == text
        for entity in result["entities"]:
            assert text[entity["start"] : entity["end"]] == entity["text"]
        status, body = post({"inputs": ["word " * 5000]})
        assert status == 400 and "at most 20000" in json.dumps(body)
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)


def test_mlflow_ui_in_a_real_browser_shows_runs_lineage_and_the_champion(project, tmp_path):
    """`mlflow ui` on loopback, driven by headless Chromium: the pages a person would open."""
    import os
    import subprocess

    from tests.integration.browser import headless_chromium, wait_for_text
    from tests.integration.conftest import project_env

    client = mlflow_client(project)
    experiment = client.get_experiment_by_name("transformer-mlops-ner")
    record = read(project, "reports/runs/ner.json")
    found = client.get_run(record["run_id"])
    tags = found.data.tags
    driver = headless_chromium()  # skips before the server starts when Chromium is missing
    port = free_port()
    env = {**project_env(), "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    # the project's app: MLflow's server, whose UI opens on model training (not GenAI) by default
    server = subprocess.Popen(["mlflow", "ui", "--app-name", "transformer-mlops",
                               "--backend-store-uri", f"sqlite:///{project / 'mlflow.db'}",
                               "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                              cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              start_new_session=True)  # fmt: skip
    base = f"http://127.0.0.1:{port}/#"
    try:
        wait_for_http(f"http://127.0.0.1:{port}/health", server, 120, "mlflow ui")
        # A fresh browser at the plain experiment URL gets the model-training view: the table of
        # the stage's runs (two after the worse re-run above), not the GenAI overview of traces.
        driver.get(f"{base}/experiments/{experiment.experiment_id}")
        text = wait_for_text(driver, ["transformer-mlops-ner", "Run Name", "finetune_ner",
                                      "ner-train"])  # fmt: skip
        url = driver.current_url  # where the UI sent the plain URL
        assert f"/experiments/{experiment.experiment_id}/runs?" in url, url
        assert "workflowType=machine_learning" in url, url
        assert not {"Sessions", "Judges", "Tool calls", "Token Usage"} & set(text.splitlines())
        driver.save_screenshot(str(tmp_path / "experiment.png"))
        # A run's page carries the lineage: DVC stage, git commit, the data hash from dvc.lock.
        driver.get(f"{base}/experiments/{experiment.experiment_id}/runs/{found.info.run_id}")
        wait_for_text(driver, ["dvc.stage", "finetune_ner", "git.commit", tags["git.commit"],
                               "data.data/prepared/ner", tags["data.data/prepared/ner"]])  # fmt: skip
        driver.save_screenshot(str(tmp_path / "run.png"))
        # The registered model page shows the versions and where `champion` points.
        driver.get(f"{base}/models/ner")
        text = wait_for_text(driver, ["Version 1", "@ champion", "@ challenger", "alias_history"])
        assert "gate" in text
        driver.save_screenshot(str(tmp_path / "model.png"))
    finally:
        driver.quit()
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
    for name in ("experiment", "run", "model"):
        png = (tmp_path / f"{name}.png").read_bytes()
        assert png.startswith(b"\x89PNG") and len(png) > 10_000
    print(f"\nscreenshots of the MLflow UI: {tmp_path}")


def test_dvc_push_then_pull_into_a_fresh_clone_restores_data_and_models(project, tmp_path):
    """The default remote is a local folder (.dvc/config): push, then a clone without cache or
    outputs pulls byte-identical prepared data and models."""
    import hashlib

    run(["git", "add", "-A"], project)
    run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "state to share"],
        project,
    )
    run(["dvc", "push"], project)
    assert any((project / "dvc-remote").rglob("*"))
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(project), str(clone)], tmp_path)
    assert not (clone / "models/ner").exists() and not (clone / ".dvc/cache").exists()
    # the remote's relative URL would point inside the clone: use the project's remote folder
    run(["dvc", "remote", "modify", "--local", "local", "url", str(project / "dvc-remote")], clone)
    run(["dvc", "pull"], clone)

    def digests(root):
        files = [
            p
            for name in ("data/prepared", "models")
            for p in (root / name).rglob("*")
            if p.is_file()
        ]
        return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}

    assert digests(clone) == digests(project) and len(digests(clone)) > 10
    assert "changed" not in run(["dvc", "status"], clone).stdout
