"""MLflow: runs and lineage (`runs`), the registry and its gate (`registry`), served pyfunc
models (`serving`), run comparison (`compare`)."""
