"""The serving path (features, inference, registry, pyfunc models, predict) loads without the
training stack: importing Lightning costs seconds in every `register` stage and server start."""

from __future__ import annotations

import subprocess
import sys


def test_inference_and_serving_modules_do_not_import_lightning():
    code = (
        "import sys\n"
        "import transformer_mlops.features.batching, transformer_mlops.features.ner\n"
        "import transformer_mlops.features.qa, transformer_mlops.features.seq2seq\n"
        "import transformer_mlops.features.squad_metric, transformer_mlops.inference.loading\n"
        "import transformer_mlops.inference.ner, transformer_mlops.inference.qa\n"
        "import transformer_mlops.inference.scratch, transformer_mlops.tracking.serving\n"
        "import transformer_mlops.tracking.registry, transformer_mlops.evaluation.qa\n"
        "import transformer_mlops.evaluation.ner, transformer_mlops.evaluation.seq2seq\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('lightning', 'pytorch_lightning')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
    # and the training module does pull it in, so the check above can fail
    out = subprocess.run([sys.executable, "-c", "import sys, transformer_mlops.tasks.qa; "
                          "print('lightning' in sys.modules)"], capture_output=True, text=True,
                         check=True)  # fmt: skip
    assert out.stdout.strip() == "True"
