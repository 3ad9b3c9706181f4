"""Data: synthetic generators, file readers, sources and Great Expectations validation."""
