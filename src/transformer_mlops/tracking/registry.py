"""The model registry: log each trained model to its run, register it, and gate promotion.

Per task (scratch, ner, qa) the `register` stage
1. logs the model to the training stage's MLflow run as a pyfunc from code (`model_code/`,
   `serving`; no pickle), NER also with the transformers flavor, with the task's inference
   settings as its `model_config`, and
   registers it as a new version of the registered model `<task>`; a run already registered
   with the same settings is not registered twice (a no-op re-run stays a no-op), while new
   settings (e.g. a wider beam) make a new version of the same run;
2. gives the new version the alias `challenger`;
3. moves `champion` to it only if its test metric beats the champion's on the same test data
   (the DVC md5 of the test split), or there is no champion yet.
Every alias move (who, when, why, old and new version) is kept in the registered model's
`alias_history` tag (JSON) and, readable in the UI, as a table in its description, and in the
version's `<alias>.moved` tag; each version's description is a short model card (data,
test metrics, lineage, the gate's decision); `reports/registry.json` (the stage's
DVC output) holds the gate's decisions and the history. `rollback` moves `champion` back to the
previous champion (again: the one before that, walking back through the history); `promote`
moves it to a chosen version by hand, with a reason (after the test data changed, say). Those
manual moves go to `reports/registry-moves.json` instead, so they do
not make the `register` stage's output look changed to DVC.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import getpass
import json
import logging
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from transformer_mlops.config import InferenceSettings
from transformer_mlops.errors import UserError
from transformer_mlops.evaluation.scores import UNIT
from transformer_mlops.hashing import dvc_md5
from transformer_mlops.io import read_json_if_exists, write_json
from transformer_mlops.tracking import model_code  # where the files logged as models live
from transformer_mlops.tracking.connection import connect
from transformer_mlops.tracking.runs import recorded_run_id

log = logging.getLogger(__name__)

REGISTRY_REPORT = Path("reports/registry.json")
MANUAL_MOVES_REPORT = Path("reports/registry-moves.json")  # not a DVC output: a human's decisions


# What decides promotion for each task: (metrics file, key, data task, model dir).
GATES = {
    "scratch": ("reports/metrics/scratch.json", "test/exact_match", "seq2seq", "models/scratch"),
    "ner": ("reports/metrics/ner.json", "test/f1", "ner", "models/ner"),
    "qa": ("reports/metrics/qa.json", "test/f1", "qa", "models/qa"),
}
HISTORY_TAG = "alias_history"
SETTINGS_TAG = "inference_settings"  # the version's model_config, as JSON
FORMAT_TAG, FROM_CODE = "model_format", "from_code"  # versions logged before this were pickles
UNIT_TAG = "metric_unit"  # versions registered before scores were all percent have none
ABOUT = {  # the registered model's description, above its alias history
    "scratch": "Our from-scratch Transformer (encoder-decoder, `models/transformer.py`) trained by "
    "the `train_scratch` stage: written dates in -> ISO dates out (default data).",
    "ner": "all-MiniLM-L6-v2 fine-tuned for named-entity recognition (PER, LOC, ORG, MISC; "
    "IOB2) by the `finetune_ner` stage; also logged in MLflow's transformers flavor.",
    "qa": "all-MiniLM-L6-v2 fine-tuned for extractive question answering (SQuAD-style spans) "
    "by the `finetune_qa` stage.",
}


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _client():
    return _client_for(connect())  # seconds, not MLflow's minutes of retries, when it is down


@functools.cache
def _client_for(uri: str):
    """One client per tracking URI: creating one opens (and checks) its stores again."""
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri)


def _version_by_alias(client, name: str, alias: str):
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def _history(client, name: str) -> list[dict[str, Any]]:
    tags = client.get_registered_model(name).tags
    return json.loads(tags.get(HISTORY_TAG, "[]"))


def move_alias(client, name: str, alias: str, version: str, why: str) -> dict[str, Any]:
    """Point `alias` at `version` and record the move on the model and the version."""
    old = _version_by_alias(client, name, alias)
    move = {"alias": alias, "from": str(old.version) if old else None, "to": str(version),
            "who": _who(), "when": _now(), "why": why}  # fmt: skip
    client.set_registered_model_alias(name, alias, str(version))
    history = [*_history(client, name), move]
    client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history))
    client.set_model_version_tag(name, str(version), f"{alias}.moved", json.dumps(move))
    client.update_registered_model(name, description=model_description(name, history))
    return move


def model_description(name: str, history: list[dict[str, Any]], shown: int = 20) -> str:
    """The registered model's description (Markdown in the UI): what it is, how to load it,
    and its alias history, newest first."""
    lines = [ABOUT.get(name, f"Registered by transformer-mlops: {name}."), "",
             f"Load: `tmlops predict {name} --model models:/{name}@champion ...`, "
             f"`tmlops serve {name}`; roll back: `tmlops rollback {name}`.", "",
             "### Alias history (newest first)", "", "| when (UTC) | alias | from | to | who | why |",
             "| --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for move in reversed(history[-shown:]):
        why = str(move["why"]).replace("|", "/")
        lines.append(f"| {move['when']} | {move['alias']} | {move['from'] or '-'} | {move['to']} "
                     f"| {move['who']} | {why} |")  # fmt: skip
    if len(history) > shown:
        lines.append(f"\n{len(history) - shown} older moves: the `{HISTORY_TAG}` tag holds all.")
    return "\n".join(lines)


def version_card(client, task: str, run_id: str, metrics: dict[str, Any], test_md5: str,
                 settings: dict[str, Any], decision: str) -> str:  # fmt: skip
    """A registered version's description: a short model card (Markdown)."""
    tags = client.get_run(run_id).data.tags
    data = {k.removeprefix("data."): v for k, v in tags.items()
            if k.startswith("data.") and k != "data.test_md5"}  # fmt: skip
    scores = ", ".join(f"{k.removeprefix('test/')} {v:g}" for k, v in metrics.items()
                       if isinstance(v, int | float))  # fmt: skip
    return "\n".join([
        f"**{task}** trained by the `{tags.get('dvc.stage', '?')}` stage in run `{run_id}` "
        f"(git {tags.get('git.commit', '?')[:12]}, dirty: {tags.get('git.dirty', '?')}).", "",
        f"- Test metrics ({UNIT}): {scores}",
        f"- Test split DVC md5: `{test_md5}`",
        *(f"- Data `{path}` DVC md5: `{md5}`" for path, md5 in sorted(data.items())),
        f"- Inference settings: `{json.dumps(settings, sort_keys=True)}`",
        f"- Gate: {decision}",
    ])  # fmt: skip


def _existing_version(client, name: str, run_id: str, settings: str):
    """The version registered from `run_id` with these inference `settings` (JSON), if any.
    Versions from before the settings were tagged count as registered with today's; pickled
    versions (from before models were logged from code) do not count: they are logged again."""
    for version in client.search_model_versions(f"name='{name}'"):
        if (version.run_id == run_id and version.tags.get(SETTINGS_TAG, settings) == settings
                and version.tags.get(FORMAT_TAG) == FROM_CODE):  # fmt: skip
            return version
    return None


def model_code_path(task: str) -> Path:
    """The file MLflow logs as the task's model (models from code: no pickle is written)."""
    return Path(model_code.__file__).with_name(f"{task}.py")


@contextlib.contextmanager
def registered_files(model_dir: str) -> Iterator[str]:
    """The model folder as registered: the Hugging Face files only. A TF SavedModel beside them
    (`saved_model/`, from qa.framework: tensorflow) is a graph that runs when loaded, which the
    verified loader refuses; it stays in the DVC-tracked models/ folder."""
    if not (Path(model_dir) / "saved_model").is_dir():
        yield model_dir
        return
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / Path(model_dir).name
        shutil.copytree(model_dir, copy, ignore=shutil.ignore_patterns("saved_model"))
        yield str(copy)


def log_and_register(task: str, run_id: str, model_dir: str, model_config: dict[str, Any]):
    """Log the task's model into its run and register it; returns the new model version.
    `model_config` is the task's inference settings (`InferenceSettings.model_dump()`).
    The pyfunc is logged from code with the saved folder (safetensors, tokenizer, config) as
    its artifact; NER is also logged in the standard transformers flavor."""
    import mlflow

    from transformer_mlops.tracking.serving import INPUT_EXAMPLES

    requirements = _pip_requirements()
    with mlflow.start_run(run_id=run_id):
        if task == "ner":  # the standard flavor too, for users of mlflow.transformers
            from huggingface_hub import ModelCard

            from transformer_mlops.inference.ner import load_ner_model

            # loaded: MLflow's path for a local folder fails on transformers 5
            model, tokenizer = load_ner_model(model_dir)
            card = ModelCard("---\nlicense: apache-2.0\n---\nToken classification (NER) "
                             "fine-tuned by transformer-mlops from all-MiniLM-L6-v2.\n")  # fmt: skip
            mlflow.transformers.log_model(
                transformers_model={"model": model, "tokenizer": tokenizer},
                task="token-classification", name="transformers",
                model_card=card, pip_requirements=requirements,
            )  # fmt: skip
        with registered_files(model_dir) as folder:
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=str(model_code_path(task)),
                artifacts={"model": folder},
                model_config=model_config,
                input_example=INPUT_EXAMPLES[task],
                pip_requirements=requirements,
                registered_model_name=task,
            )
    client = _client()
    return client.get_model_version(task, str(info.registered_model_version))


def _pip_requirements() -> list[str]:
    """Pinned requirements of the served model (explicit: inference would pull torchvision)."""
    from importlib.metadata import version

    packages = ["torch", "transformers", "tokenizers", "mlflow", "pydantic", "safetensors"]
    return [f"{p}=={version(p)}" for p in packages] + [
        f"transformer-mlops=={version('transformer-mlops')}"
    ]


def gate(version: str, value: float, test_md5: str, key: str, champion) -> str:
    """The promotion rule: promote when there is no champion, or when `value` beats the
    champion's `key` measured on the same test data (DVC md5 of the test split), or when the
    champion is a pickled model (registered before models were logged from code). A champion
    whose figure is in other units (registered before every score was a percent) is kept: the
    figures do not compare; `tmlops promote` decides by hand."""
    if champion is None:
        return "promoted: no champion yet"
    if champion.tags.get(FORMAT_TAG) != FROM_CODE:
        return "promoted: the champion is a pickled model, which tmlops refuses to load"
    if str(champion.version) == str(version):
        return "already champion"
    if champion.tags.get(UNIT_TAG) != UNIT:
        return (
            f"kept champion: its {key} is not in {UNIT} (registered by an older version); "
            "not comparable, promote by hand if this one is better"
        )
    if champion.tags.get("test_data_md5") != test_md5 or key not in champion.tags:
        return "kept champion: its test data differs (not comparable)"
    best = float(champion.tags[key])
    if value > best:
        return f"promoted: {key} {value:.4f} > champion {best:.4f}"
    return f"kept champion: {key} {value:.4f} <= champion {best:.4f}"


def registrable(task: str) -> tuple[dict[str, Any], str]:
    """The task's test metrics and training run id, or UserError saying which stage to run.
    The register stage asks this of every task before it registers any."""
    metrics_path = GATES[task][0]
    metrics = read_json_if_exists(metrics_path)
    if metrics is None:
        raise UserError(f"{metrics_path}: missing; run the task's evaluation stage first")
    run_id = recorded_run_id(task)
    if run_id is None:
        raise UserError(
            f"reports/runs/{task}.json: no MLflow run recorded; run the training stage first"
        )
    return metrics, run_id


def register(task: str, settings: InferenceSettings) -> dict[str, Any]:
    """Register the task's latest run, its model carrying the inference `settings` it is
    served with, and apply the promotion gate; returns the decision."""
    _, key, data_task, model_dir = GATES[task]
    metrics, run_id = registrable(task)
    value = float(metrics[key])
    test_md5 = dvc_md5(Path("data/prepared") / data_task / "test.jsonl")
    client = _client()
    settings_json = json.dumps(settings.model_dump(), sort_keys=True)
    version = _existing_version(client, task, run_id, settings_json) if client.search_registered_models(
        f"name='{task}'") else None  # fmt: skip
    if version is None:
        version = log_and_register(task, run_id, model_dir, settings.model_dump())
        tags = {key: value, "test_data_md5": test_md5, "metric": key, SETTINGS_TAG: settings_json,
                FORMAT_TAG: FROM_CODE, UNIT_TAG: UNIT}  # fmt: skip
        for tag, tag_value in tags.items():
            client.set_model_version_tag(task, version.version, tag, str(tag_value))
        moves = [move_alias(client, task, "challenger", version.version, "new version")]
    else:
        moves = []  # already registered: the decision below is recomputed, nothing re-logged
    champion = _version_by_alias(client, task, "champion")
    decision = gate(version.version, value, test_md5, key, champion)
    if decision.startswith("promoted"):
        moves.append(move_alias(client, task, "champion", version.version, decision))
    client.set_model_version_tag(task, version.version, "gate", decision)
    client.update_model_version(task, version.version, description=version_card(
        client, task, run_id, metrics, test_md5, settings.model_dump(), decision))  # fmt: skip
    log.info("registry %s: version %s, %s", task, version.version, decision)
    return {
        "version": str(version.version),
        "run_id": run_id,
        "metric": key,
        "value": value,
        "champion_before": str(champion.version) if champion else None,
        "champion_value_before": float(champion.tags[key])
        if champion and key in champion.tags
        else None,
        "test_data_md5": test_md5,
        "decision": decision,
        "moves": moves,
        "history": _history(client, task),
    }


def _record(client, task: str, event: str, move: dict[str, Any]) -> None:
    """Add a manual alias move (`event`: rolled_back, promoted) to `reports/registry-moves.json`,
    with the alias history as it stands after it."""
    report = read_json_if_exists(MANUAL_MOVES_REPORT) or {}
    entry = report.get(task, {})
    entry["history"] = _history(client, task)
    entry[event] = move
    report[task] = entry
    write_json(MANUAL_MOVES_REPORT, report)


ROLLBACK = "rollback from version "  # how a rollback's move starts its reason


def champion_line(history: list[dict[str, Any]]) -> list[str]:
    """The versions that held `champion`, oldest first, without those rolled back: a rollback
    steps back along this line, so rolling back twice walks back twice."""
    line: list[str] = []
    for move in history:
        if move["alias"] != "champion":
            continue
        if move["why"].startswith(ROLLBACK) and line and line[-1] == move["from"]:
            line.pop()
        if not line or line[-1] != move["to"]:
            line.append(move["to"])
    return line


def rollback(task: str) -> dict[str, Any]:
    """Move `champion` back to the version that held it before the current one (walking back
    through the history: each rollback goes one further)."""
    client = _client()
    champion = _version_by_alias(client, task, "champion")
    if champion is None:
        raise UserError(f"registered model {task!r} has no champion to roll back")
    line = champion_line(_history(client, task))
    if not line or line[-1] != str(champion.version):  # moved outside tmlops: undo the last move
        arrivals = [m for m in _history(client, task)
                    if m["alias"] == "champion" and m["to"] == str(champion.version)]  # fmt: skip
        line = [arrivals[-1]["from"], str(champion.version)] if arrivals else []
    if len(line) < 2 or line[-2] is None:
        raise UserError(
            f"registered model {task!r}: version {champion.version} was the first champion; "
            "there is nothing to roll back to"
        )
    move = move_alias(client, task, "champion", line[-2], f"{ROLLBACK}{champion.version}")
    _record(client, task, "rolled_back", move)
    return move


def promote(task: str, version: str, why: str) -> dict[str, Any]:
    """Make `version` the champion by hand, with a reason: for what the gate cannot decide,
    e.g. after the test data changed (the champion's figure is then not comparable)."""
    if not why.strip():
        raise UserError("promote: say why (--why), it is kept in the alias history")
    client = _client()
    versions = sorted(int(v.version) for v in client.search_model_versions(f"name='{task}'"))
    if not version.isdigit() or int(version) not in versions:
        known = ", ".join(map(str, versions)) or "none"
        raise UserError(f"registered model {task!r} has no version {version!r} (versions: {known})")
    champion = _version_by_alias(client, task, "champion")
    if champion is not None and str(champion.version) == version:
        raise UserError(f"registered model {task!r}: version {version} is already the champion")
    move = move_alias(client, task, "champion", version, f"promoted by hand: {why.strip()}")
    _record(client, task, "promoted", move)
    return move
