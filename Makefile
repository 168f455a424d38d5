# The front door: `make run` and `make test` work on a fresh machine with Python 3.11 and make.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-main
DRIFT_VENV := .venv-drift
DRIFT_STAMP := $(DRIFT_VENV)/.installed-drift

.PHONY: venv venv-drift run test unit e2e bench compile manifests images cluster-up deploy lint gpu-check clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[pipeline,train,serve,dev]'
	touch $(STAMP)

venv: $(STAMP)

# The drift environment: alibi-detect needs numpy<2, the project's base dependencies
# numpy>=2. So the `drift` extra lists all that serving.drift needs, and the project goes
# in editable without its dependencies.
$(DRIFT_STAMP): pyproject.toml
	test -x $(DRIFT_VENV)/bin/python || $(PYTHON) -m venv $(DRIFT_VENV)
	$(DRIFT_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(DRIFT_VENV)/bin/python -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["drift"]))' > $(DRIFT_VENV)/requirements.txt
	$(DRIFT_VENV)/bin/python -m pip install --quiet -r $(DRIFT_VENV)/requirements.txt
	$(DRIFT_VENV)/bin/python -m pip install --quiet --no-deps -e .
	touch $(DRIFT_STAMP)

venv-drift: $(DRIFT_STAMP)

run: venv venv-drift
	$(BIN)/sluice run
	$(BIN)/sluice smoke

test: venv venv-drift
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/pytest

unit: venv
	$(BIN)/pytest tests/unit

e2e: venv
	$(BIN)/pytest tests/e2e

bench: venv venv-drift
	$(BIN)/python -m tests.benchmarks

compile: venv
	$(BIN)/sluice compile

manifests: venv  # the kustomize base, rendered from the Helm chart's defaults
	$(BIN)/python infra/render_manifests.py

images:  # every image, with docker (buildx) or podman: infra/images/build.sh
	infra/images/build.sh

cluster-up:  # a kind cluster with everything sluice runs on (CLUSTER=existing: the current one)
	infra/cluster-up.sh $(if $(filter existing,$(CLUSTER)),--existing)

deploy:  # the chart into namespace sluice, serving STORAGE_URI (a registered version's model)
	@test -n "$(STORAGE_URI)" || { echo "usage: make deploy STORAGE_URI=s3://…/artifacts"; exit 2; }
	helm upgrade --install sluice helm/sluice --namespace sluice --create-namespace \
	  --set inferenceService.storageUri=$(STORAGE_URI) --wait

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

clean:
	rm -rf .sluice

gpu-check: venv
	$(BIN)/python -m components.train.gpu_check
