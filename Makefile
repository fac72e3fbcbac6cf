# The whole set-up on a fresh machine is `make demo` and `make test`; `make check` is the fast inner loop.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip install --quiet --disable-pip-version-check

.PHONY: demo test check lint typecheck system-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.demo-installed: pyproject.toml | $(BIN)/python
	$(PIP) -e '.[sklearn,onnx]'
	touch $@

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(PIP) -e '.[dev]'
	touch $@ $(VENV)/.demo-installed

demo: $(VENV)/.demo-installed
	$(BIN)/modelpilot demo

system-deps:
	bash scripts/install-system-deps.sh

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

typecheck: $(VENV)/.dev-installed
	$(BIN)/mypy

test: $(VENV)/.dev-installed system-deps lint typecheck
	$(BIN)/pytest

check: $(VENV)/.dev-installed
	$(BIN)/ruff check src tests
	$(BIN)/pytest -m "not postgres and not slow" -q

clean:
	rm -rf $(VENV) .modelpilot .pytest_cache .mypy_cache .ruff_cache test-artifacts
