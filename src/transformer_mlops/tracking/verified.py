"""Loading a registered model without trusting the artifact store.

MLflow's loader runs what a model folder says: a pickle (`python_model.pkl`, `pytorch_model.bin`)
or the code file of a model logged from code. Whoever can write the artifact store could make
every machine that loads `champion` run their code. `tmlops predict` and `tmlops serve` therefore
download the model folder and check it before MLflow sees it:
- its `python_function` flavor loads from code (`mlflow.pyfunc.loaders.code_model`), and the code
  file is byte-identical to the installed package's `tracking/model_code/<task>.py`;
- every other file is data of a kind that cannot run code (JSON, YAML, text, safetensors).
Pickle deserialisation is also switched off in MLflow (`MLFLOW_ALLOW_PICKLE_DESERIALIZATION`).
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path
from typing import Any

import yaml

from transformer_mlops.errors import UserError
from transformer_mlops.secrets import redact
from transformer_mlops.tracking import model_code
from transformer_mlops.tracking.connection import connect

CODE_LOADER = "mlflow.pyfunc.loaders.code_model"
MODEL_CODE = Path(model_code.__file__).parent
DATA_SUFFIXES = {".json", ".yaml", ".yml", ".txt", ".md", ".safetensors"}
DATA_NAMES = {"MLmodel", "registered_model_meta"}


class UntrustedModel(UserError):
    """A model folder that could run code other than the installed package's."""


def check_model_dir(model_dir: str | Path, source: str) -> str:
    """Refuse a model folder that could run foreign code; returns the task its code serves.
    `source` names the model in messages (e.g. models:/ner@champion)."""
    model_dir = Path(model_dir)
    try:
        mlmodel = yaml.safe_load((model_dir / "MLmodel").read_text(encoding="utf-8"))
        flavor = mlmodel["flavors"]["python_function"]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        raise UntrustedModel(f"{source}: not an MLflow pyfunc model (no readable MLmodel with a "
                             "python_function flavor)") from None  # fmt: skip
    if flavor.get("loader_module") != CODE_LOADER or not flavor.get("model_code_path"):
        raise UntrustedModel(f"{source}: its MLmodel loads with {flavor.get('loader_module')!r}, "
                             f"not from code ({CODE_LOADER}); refusing to load it (a version "
                             "registered before models were logged from code: `dvc repro "
                             "register` registers the model again and promotes it)")  # fmt: skip
    code_name = Path(str(flavor["model_code_path"])).name
    ours = MODEL_CODE / code_name
    theirs = model_dir / code_name
    if code_name == "__init__.py" or not ours.is_file():
        raise UntrustedModel(f"{source}: its code file {code_name!r} is not one of this "
                             "package's models (ner.py, qa.py, scratch.py)")  # fmt: skip
    if not theirs.is_file() or theirs.read_bytes() != ours.read_bytes():
        raise UntrustedModel(f"{source}: its code file {code_name} differs from the one in this "
                             "installed transformer-mlops; refusing to run it (re-register the "
                             "model with this version, or install the version that logged it)")  # fmt: skip
    for path in sorted(model_dir.rglob("*")):
        if path.is_dir() or path == theirs:
            continue
        if path.is_symlink() or (path.name not in DATA_NAMES and path.suffix not in DATA_SUFFIXES):
            relative = path.relative_to(model_dir)
            raise UntrustedModel(f"{source}: {relative} is not a data file this project writes "
                                 "(JSON, YAML, text, safetensors); refusing to load the model")  # fmt: skip
    return code_name.removesuffix(".py")


def load_registered(uri: str) -> Any:
    """Download, check and load a registered pyfunc model (models:/<name>@<alias>, runs:/...)
    from the tracking server (checked first: seconds, not minutes, when it is down). The
    downloaded folder lives until the process exits (weights may be memory-mapped)."""
    import mlflow
    from mlflow.exceptions import MlflowException

    tracking = connect()
    folder = tempfile.mkdtemp(prefix="tmlops-model-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    try:
        local = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=folder)
    except (MlflowException, OSError) as error:
        reason = getattr(error, "message", None) or str(error)
        raise UserError(f"{uri}: cannot load it from {redact(tracking)} "
                        f"({redact(reason.splitlines()[0])[:300]})") from None  # fmt: skip
    check_model_dir(local, uri)
    return mlflow.pyfunc.load_model(local)
