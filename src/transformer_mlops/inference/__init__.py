"""Loading saved models and predicting with them, without Lightning (fast to import)."""
