"""transformer-mlops: a reproducible DVC + MLflow + Lightning pipeline for Transformer models."""

from __future__ import annotations

import os

__version__ = "0.1.0"

# The project runs offline and quietly by default: model and dataset hubs are unreachable
# on CI runners, and telemetry should never leave a user's machine. Users who are online
# and want the hub set these variables themselves; setdefault never overrides them.
# MLflow never unpickles a model (registered models are logged from code; see tracking/verified).
ENV_DEFAULTS = {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DVC_NO_ANALYTICS": "1",
    "GX_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "false",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",  # bars for copying a model folder: noise
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",  # transformers' "Loading weights" bar on every load
}
for _key, _value in ENV_DEFAULTS.items():
    os.environ.setdefault(_key, _value)
