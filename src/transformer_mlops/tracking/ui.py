"""`mlflow ui --app-name transformer-mlops`: MLflow's own tracking server, whose UI opens on its
model-training pages (runs, params, metrics, the registry) instead of its GenAI pages.

Why a server app: MLflow 3's UI takes its "GenAI / Model training" switch from the URL
(`workflowType=`) or the browser's localStorage and defaults to GenAI; it does not read the
experiment's `mlflow.experimentKind` tag (mlflow/mlflow#24498). This app, registered as an
`mlflow.app` entry point like MLflow's own `basic-auth`, stores "model training" as the
browser's choice when it has none, before the UI runs; a person who picks GenAI keeps it."""

from __future__ import annotations

from flask import Flask, request
from mlflow.environment_variables import _MLFLOW_SGI_NAME
from mlflow.server import app as mlflow_app

WORKFLOW_KEY = "mlflow.workflowType_v1"  # the UI's localStorage key (MLflow 3.x)
_DEFAULT_TO_MODEL_TRAINING = (
    f"<script>try{{localStorage.getItem('{WORKFLOW_KEY}')||localStorage.setItem("
    f"'{WORKFLOW_KEY}','\"machine_learning\"')}}catch(e){{}}</script>"
).encode()


def _open_on_model_training(response):
    """The UI's page (MLflow's `serve` view of index.html) with the default set in its head."""
    if (
        request.endpoint == "serve"
        and response.status_code == 200
        and response.mimetype == "text/html"
    ):
        response.direct_passthrough = False  # a file response: read it, then replace it
        html = response.get_data()
        response.set_data(html.replace(b"<head>", b"<head>" + _DEFAULT_TO_MODEL_TRAINING, 1))
    return response


def create_app(app: Flask = mlflow_app):
    """The `mlflow.app` entry point's factory (as MLflow's basic-auth app does it)."""
    app.after_request(_open_on_model_training)
    if _MLFLOW_SGI_NAME.get() == "uvicorn":
        from mlflow.server.fastapi_app import create_fastapi_app

        return create_fastapi_app(app)
    return app
