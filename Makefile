# docclass: every command a newcomer needs. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# The Lambda runtime is python3.12; the venv uses the same version when the machine has it.
# pyenv (on these machines) only exposes python3.12 and python3.13 when PYENV_VERSION names them;
# sam build also needs python3.12 on PATH to build a python3.12 function.
export PYENV_VERSION ?= 3.12.1:3.11.7:3.13.0
export SAM_CLI_TELEMETRY := 0
PYTHON ?= $(shell command -v python3.12 >/dev/null 2>&1 && python3.12 -c '' 2>/dev/null && echo python3.12 || echo python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: help install run serve test lint build validate clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml layers/docclass/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(STAMP) ## create .venv and install docclass with its dev tools

run: $(STAMP) ## the demo: local S3/SQS, both functions, generated documents classified end to end
	$(BIN)/docclass demo

serve: $(STAMP) ## the local stack on http://127.0.0.1:4566 until Ctrl-C (upload with any S3 client)
	$(BIN)/docclass serve

test: $(STAMP) ## run the whole test suite (unit + integration, no AWS account needed)
	$(BIN)/python -m pytest

lint: $(STAMP) ## ruff, mypy and sam validate --lint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/sam validate --lint

validate: $(STAMP) ## sam validate --lint on template.yaml
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/sam validate --lint

build: $(STAMP) ## sam build (no Docker needed) and print the layer's unzipped size
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/sam build
	@echo "DocclassLayer unzipped: $$(du -sm .aws-sam/build/DocclassLayer | cut -f1) MB (Lambda's limit: 250 MB for function + layers)"

clean: ## remove build output and caches (keeps .venv)
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache
