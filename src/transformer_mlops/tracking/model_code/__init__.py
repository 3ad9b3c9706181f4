"""One file per registered model, logged by path (models from code); see `tracking.verified`."""
