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
# Security tools live in a venv of their own: checkov pins dozens of packages (boto3 among them) that
# must not move the project's pinned ones. The stamp names the version, so changing it reinstalls.
# The venv ignores itself in git (and so in ruff), as the `virtualenv` tool does.
TOOLS := .venv-tools
CHECKOV_VERSION := 3.3.30
TOOLS_STAMP := $(TOOLS)/.checkov-$(CHECKOV_VERSION)
CHECKOV := CKV_SKIP_PACKAGE_UPDATE_CHECK=true $(TOOLS)/bin/checkov

.PHONY: help install tools run serve screenshot test lint security build validate bench clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml layers/docclass/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(STAMP) ## create .venv and install docclass with its dev tools

$(TOOLS_STAMP):
	rm -rf $(TOOLS)
	$(PYTHON) -m venv $(TOOLS)
	echo '*' > $(TOOLS)/.gitignore
	$(TOOLS)/bin/python -m pip install --quiet --upgrade pip
	$(TOOLS)/bin/python -m pip install --quiet checkov==$(CHECKOV_VERSION)
	touch $@

tools: $(TOOLS_STAMP) ## create .venv-tools with checkov (kept apart from the project's dependencies)

run: $(STAMP) ## the demo: local S3/SQS, both functions, generated documents classified end to end
	$(BIN)/docclass demo

serve: $(STAMP) ## the local stack on http://127.0.0.1:4566 until Ctrl-C (upload with any S3 client)
	$(BIN)/docclass serve

screenshot: $(STAMP) ## docs/review.png: the review page on the demo's data (Playwright on Debian's chromium)
	$(BIN)/python scripts/review_screenshot.py

test: $(STAMP) ## run the whole test suite (unit + integration, no AWS account needed)
	$(BIN)/python -m pytest

lint: $(STAMP) ## ruff, ruff format, mypy, sam validate --lint and checkov (make security); .ci/run runs it before make test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/sam validate --lint
	$(MAKE) --no-print-directory security

# checkov reads SAM templates itself (Globals merged into each AWS::Serverless::Function), so it runs
# on template.yaml, where the skips and their reasons are written. Offline: no Prisma Cloud download,
# no update check. It exits 0 on a file it cannot parse (a "parsing error", nothing checked), hence
# the second step: the CloudFormation checks must have run, with no failure and no parsing error.
security: $(TOOLS_STAMP) ## checkov on template.yaml (CloudFormation/SAM checks and secrets); fails on any failed check
	set -o pipefail; $(CHECKOV) --file template.yaml --framework cloudformation secrets \
		--compact --quiet --skip-download | tee $(TOOLS)/checkov.log
	@grep -Eq '^Passed checks: [1-9][0-9]*, Failed checks: 0, Skipped checks: [0-9]+$$' $(TOOLS)/checkov.log \
		&& ! grep -q 'Parsing errors' $(TOOLS)/checkov.log \
		|| { echo "checkov checked nothing in template.yaml (could it parse it?)" >&2; exit 1; }

validate: $(STAMP) ## sam validate --lint on template.yaml
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/sam validate --lint

build: $(STAMP) ## sam build (no Docker needed) and print the layer's unzipped size
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/sam build
	@echo "DocclassLayer unzipped: $$(du -sm .aws-sam/build/DocclassLayer | cut -f1) MB (Lambda's limit: 250 MB for function + layers)"

bench: $(STAMP) ## the benchmarks, pipelines side by side (not the 45-min `ingest.py --pages`); tables in bench/results/ (QUICK=1: smoke run)
	$(BIN)/python bench/overhead.py $(if $(QUICK),--quick)
	$(BIN)/python bench/ingest.py --what-if $(if $(QUICK),--quick)
	$(BIN)/python bench/ingest.py --what-if --images 1000 --model-latency 0.2 $(if $(QUICK),--quick)
	$(BIN)/python bench/cost.py $(if $(QUICK),--quick)
	$(BIN)/python bench/scale.py $(if $(QUICK),--quick)
	$(BIN)/python bench/reload.py $(if $(QUICK),--quick)
	$(BIN)/python bench/cold_start.py $(if $(QUICK),--quick)
	$(BIN)/python bench/memory.py $(if $(QUICK),--quick)
	$(BIN)/python bench/pdf_render.py $(if $(QUICK),--quick)
	$(BIN)/python bench/pdf_pages.py $(if $(QUICK),--quick)
	$(BIN)/python bench/model_requests.py $(if $(QUICK),--quick)
	@if [ -d ../shared/data/docs ]; then \
		OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 $(BIN)/python bench/embedder_quality.py; \
	else echo "skipping bench/embedder_quality.py: ../shared/data/docs is absent"; fi

clean: ## remove build output and caches (keeps .venv)
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache
