"""The registered NER model's code (MLflow models from code: the registry holds no pickle).
The register stage logs this file; `tracking.verified` loads a model only when its copy of
this file is byte-identical to the installed package's."""

from mlflow.models import set_model

from transformer_mlops.tracking.serving import NerSpansModel

set_model(NerSpansModel())
