# fitsense-luigi: every target installs what it needs into .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# two stamps: the runtime (what `make run` needs) and the test and lint tools on top (everything else)
RUNTIME_STAMP := $(VENV)/.runtime-$(shell cat setup.py requirements.txt | sha256sum | cut -c1-12)
STAMP := $(VENV)/.installed-$(shell cat setup.py requirements.txt requirements-dev.txt | sha256sum | cut -c1-12)
RUN_ID ?=
LUIGI_ARGS ?=
IMAGE ?= localhost/fitsense-luigi:latest
SCHEDULER_PORT ?= 8082

.PHONY: install install-runtime run test test-slow soak lint format bench clean image scheduler ops-deps test-image test-ops

$(RUNTIME_STAMP):
	rm -f $(VENV)/.runtime-* $(VENV)/.installed-*
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt -e .
	touch $@

$(STAMP): $(RUNTIME_STAMP)
	rm -f $(VENV)/.installed-*
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

## install-runtime: the pipeline's own dependencies only (what `make run` and `make scheduler` use)
install-runtime: $(RUNTIME_STAMP)

## install: the runtime, then the test and lint tools (every other target)
install: $(STAMP)

## run: the whole pipeline for today's run id (or RUN_ID=...), local scheduler, mock teacher (runtime dependencies only)
run: install-runtime
	$(BIN)/luigi --module fitsense_luigi BiasSlicing --local-scheduler $(if $(RUN_ID),--run-id $(RUN_ID)) $(LUIGI_ARGS)

## publish: release run RUN_ID's dataset into the DVC data registry (release: in params.yaml)
publish: install
	@test -n "$(RUN_ID)" || { echo "publish: give RUN_ID=<run id>" >&2; exit 2; }
	$(BIN)/python -m fitsense_luigi.pipeline.release --run-id $(RUN_ID)

## test: the fast suite (slow scale tests are marked and left to test-slow)
test: install
	$(BIN)/pytest -q -m "not slow"

test-slow: install
	$(BIN)/pytest -q -m "slow and not ops and not soak"

## soak: randomised kill -9 chains against a loopback teacher (SOAK_ROUNDS=8 by default, SOAK_SEED to vary them)
soak: install
	$(BIN)/pytest -q -s -m soak

## image: the container image, built with podman (installs podman/runc/debootstrap and a local base if missing)
image: install
	IMAGE=$(IMAGE) PYTHON=$(BIN)/python bash ops/build-image.sh

## scheduler: luigid on 127.0.0.1:$(SCHEDULER_PORT), state file under the data root (foreground)
scheduler: install-runtime
	$(BIN)/python -m fitsense_luigi.scheduler --port $(SCHEDULER_PORT)

## ops-deps: what the operations tests drive: podman (+ runc, debootstrap) and Debian's chromium
ops-deps:
	bash ops/podman-setup.sh
	command -v chromium >/dev/null || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

## test-image: build the image, then run the pipeline in containers and check the results on the host
test-image: image
	FITSENSE_TEST_IMAGE=$(IMAGE) $(BIN)/pytest -q tests/ops/test_ops_container.py

## test-ops: every operations test (container, luigid + chromium UI); CI runs it
test-ops: ops-deps image
	FITSENSE_TEST_IMAGE=$(IMAGE) $(BIN)/pytest -q -m ops

## lint: ruff, and import-linter for the architecture (pyproject.toml: runtime above domain above contracts; no luigi in the domain)
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache --no-logo

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf build dist *.egg-info .pytest_cache .ruff_cache
