# The front door: `make run` and `make test` work on a fresh machine with Python 3.11 and make.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-main

.PHONY: venv run test unit e2e bench compile lint gpu-check clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[pipeline,train,serve,dev]'
	touch $(STAMP)

venv: $(STAMP)

run: venv
	$(BIN)/sluice run
	$(BIN)/sluice smoke

test: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/pytest

unit: venv
	$(BIN)/pytest tests/unit

e2e: venv
	$(BIN)/pytest tests/e2e

bench: venv
	$(BIN)/python -m tests.benchmarks

compile: venv
	$(BIN)/sluice compile

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

clean:
	rm -rf .sluice

gpu-check: venv
	$(BIN)/python -m components.train.gpu_check
