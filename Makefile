# Two commands for a new user: `make repro` (set up, then run the pipeline) and `make test`.
# Every target is idempotent: `make setup` only reinstalls when the lock or pyproject changed.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# Optional extras on top of dev, e.g. `make setup EXTRAS=tensorflow` (qa.framework: tensorflow).
EXTRAS ?=
comma := ,
STAMP := $(VENV)/.setup-stamp$(if $(EXTRAS),-$(subst $(comma),-,$(EXTRAS)))

# Offline and quiet by default (the package sets the same defaults for direct use).
export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
export MLFLOW_DISABLE_TELEMETRY ?= true
export DVC_NO_ANALYTICS ?= 1
export GX_ANALYTICS_ENABLED ?= false
export DO_NOT_TRACK ?= 1
# Stage commands run `python`: make it the project's.
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: setup repro recipes test test-all test-contract lint bench dag clean help

help:
	@echo "make repro     set up .venv, then run the whole DVC pipeline (dvc repro)"
	@echo "make recipes   the real-data recipes (recipes/*.yaml) and their recorded results"
	@echo "make test      set up .venv, then run the fast tests (everyday work, a few minutes)"
	@echo "make test-all  every test, slow ones included (what CI runs)"
	@echo "make test-contract  the bad-input matrix through dvc repro (about 12 min)"
	@echo "make lint      ruff + actionlint"
	@echo "make bench     benchmarks (about 35 min): reports/bench/summary.json + summary.md"

setup: $(STAMP)

# PyPI's Linux torch is the multi-GB CUDA build: CI sets PyTorch's CPU index here, whose
# 2.13.0+cpu pip prefers (it sorts above 2.13.0). Empty by default: pip's own indexes.
TORCH_INDEX_URL ?=
TORCH_INDEX = $(if $(TORCH_INDEX_URL), --extra-index-url $(TORCH_INDEX_URL))

# torch first and alone: pip takes the CPU build of exactly this version.
$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "pip>=24"
	$(BIN)/python -m pip install --quiet torch==2.13.0$(TORCH_INDEX)
	$(BIN)/python -m pip install --quiet -c requirements.lock -e ".[dev$(if $(EXTRAS),$(comma)$(EXTRAS))]"
	@touch $(STAMP)

repro: setup
	$(BIN)/dvc repro

recipes: setup
	$(BIN)/tmlops recipes

# pyproject's addopts skip tests marked `slow`; `-m ""` lifts that filter.
test: setup
	$(BIN)/python -m pytest

# --durations: the slowest tests named at the end of CI's log, where the suite's time goes.
test-all: setup
	$(BIN)/python -m pytest -m "" --durations=25

test-contract: setup
	$(BIN)/python -m pytest -m "" tests/integration/test_contract.py

# Not part of the test suite: speed figures need a quiet machine (see benchmarks/run_all.py).
bench: setup
	$(BIN)/python -m pip install --quiet -c requirements.lock -e ".[dev,bench]"
	$(BIN)/python -m benchmarks.run_all

LINT_DIRS := $(wildcard src pipelines tests benchmarks tools)

lint: setup
	$(BIN)/ruff check $(LINT_DIRS)
	$(BIN)/ruff format --check $(LINT_DIRS)
	$(BIN)/actionlint

dag: setup
	$(BIN)/dvc dag

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

# The offline `dvc plots show` page (.dvc/plots/offline.html, set in .dvc/config): Vega,
# Vega-Lite and Vega-Embed inline, fetched with `npm pack` (needs npm and the npm registry).
# `$(BIN)/python tools/vendor_vega.py --check` verifies the page offline.
.PHONY: vendor-vega
vendor-vega: setup
	$(BIN)/python tools/vendor_vega.py

# docs/images/: the README's pictures of the DVC plots page and the MLflow UI, from the
# workspace after `dvc repro` (headless Chromium + chromium-driver, an mlflow server on loopback).
.PHONY: screenshots
screenshots: setup
	$(BIN)/python tools/screenshots.py
