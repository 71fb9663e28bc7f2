# Touchpoints task runner. `make` or `make help` lists the tasks.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.DEFAULT_GOAL := help

help: ## List the tasks
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(BIN)/touchpoints: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	@touch $@

$(VENV)/.dev: $(BIN)/touchpoints
	$(BIN)/pip install --quiet -e '.[dev,spark]'
	@touch $@

setup: $(VENV)/.dev ## Create .venv with Touchpoints and the test tools

demo: $(BIN)/touchpoints ## Build the demo world in ./.touchpoints and serve it on http://127.0.0.1:8000
	$(BIN)/touchpoints demo

test: $(VENV)/.dev ## Run lint, type checks, the test suite and the Spark parity suite
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/pytest
	$(BIN)/pytest -m spark

lint: $(VENV)/.dev ## Lint and type-check only
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

format: $(VENV)/.dev ## Format the code
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

bench: $(VENV)/.dev ## Run the ingest benchmark (figures go to BENCHMARKS.md)
	$(BIN)/python bench/ingest.py

.PHONY: help setup demo test lint format bench
