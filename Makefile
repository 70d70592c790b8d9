# modelcare — every target sets itself up: a .venv with the pinned requirements (uv, bytecode precompiled).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: help install demo up docs browser test test-e2e test-unit test-dags test-integration faults lint format bench policy-eval lock devstack clean

help:
	@echo "make demo   - run the monitoring loop on the embedded AWS emulator + SMTP sink"
	@echo "make test   - lint, then all tests (unit, dags, integration, browser)"
	@echo "make up     - the demo's history + airflow standalone with the Model Registry page"
	@echo "make lint   - ruff + mypy";  echo "make bench  - parse-time and drift benchmarks"
	@echo "make faults - the fault-injection suite alone (lost replies, resets, races, kill -9; tests/faults)"
	@echo "make devstack - run the embedded AWS emulator + SMTP sink in the foreground"
	@echo "make policy-eval - the retraining policy against three oracles on simulated weeks, late labels, the estimate benchmark (tables + benchmarks/policy_eval.json, estimate_eval.json)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip install --python $(BIN)/python --compile-bytecode -r requirements-dev.txt -c constraints.txt
	$(BIN)/uv pip install --python $(BIN)/python --compile-bytecode --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m include.modelcare.dev.demo

test: lint browser
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Debian's Chromium for the browser tests (Playwright drives it; no browser download). Where it cannot be
# installed, the browser tests skip with a loud message.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests ..."; \
	  (DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 || \
	   (apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1)) \
	  && echo "chromium installed: $$(chromium --version)" \
	  || echo "WARNING: could not install chromium: the browser tests (tests/e2e) will be SKIPPED"; }

test-e2e: $(STAMP) browser
	$(BIN)/python -m pytest tests/e2e $(PYTEST_ARGS)

test-unit: $(STAMP)
	$(BIN)/python -m pytest -m unit $(PYTEST_ARGS)

test-dags: $(STAMP)
	$(BIN)/python -m pytest tests/dags $(PYTEST_ARGS)

test-integration: $(STAMP)
	$(BIN)/python -m pytest tests/integration $(PYTEST_ARGS)

faults: $(STAMP)
	$(BIN)/python -m pytest -m faults $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

policy-eval: $(STAMP)
	$(BIN)/python -m include.modelcare.dev.policy_eval --json benchmarks/policy_eval.json
	$(BIN)/python -m include.modelcare.dev.policy_eval.estimate_eval --json benchmarks/estimate_eval.json

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_parse.py
	$(BIN)/python benchmarks/bench_drift.py
	$(BIN)/python benchmarks/bench_validation.py
	$(BIN)/python benchmarks/bench_drift_rule.py --json benchmarks/drift_rule.json
	$(BIN)/python benchmarks/bench_training.py
	$(BIN)/python benchmarks/bench_registry.py
	$(BIN)/python benchmarks/bench_deploy.py

# Regenerate the generated parts of the docs (the config reference in README.md).
docs: $(STAMP)
	$(BIN)/modelcare config-reference --write README.md

# The demo's history plus `airflow standalone` with the bundle and the Model Registry page; Ctrl-C stops it.
up: $(STAMP)
	$(BIN)/python -m include.modelcare.dev.up $(if $(filter command line,$(origin HOST)),--host $(HOST))

devstack: $(STAMP)
	$(BIN)/modelcare devstack

# Regenerate the full transitive lock after changing a pin.
lock: $(BIN)/python
	$(BIN)/python -m pip install --quiet uv==$(UV_VERSION)
	$(BIN)/uv pip compile requirements-dev.txt --python-version 3.11 --no-header -o constraints.txt

clean:
	rm -rf $(VENV) .demo .up .bench-deploy dist .devstack .pytest_cache .mypy_cache .ruff_cache
