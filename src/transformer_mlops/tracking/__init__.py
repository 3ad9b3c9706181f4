"""MLflow: runs and lineage (`runs`), the training-stage runner with resume (`stage`), the
registry and its gate (`registry`), served pyfunc models (`serving`), run comparison (`compare`)."""
