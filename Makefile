# fitsense-luigi: every target installs what it needs into .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat setup.py requirements.txt requirements-dev.txt | sha256sum | cut -c1-12)
RUN_ID ?=
LUIGI_ARGS ?=

.PHONY: install run test test-slow lint format bench clean

$(STAMP):
	rm -f $(VENV)/.installed-*
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt -e .
	touch $@

install: $(STAMP)

## run: the whole pipeline for today's run id (or RUN_ID=...), local scheduler, mock teacher
run: install
	$(BIN)/luigi --module fitsense_luigi BiasSlicing --local-scheduler $(if $(RUN_ID),--run-id $(RUN_ID)) $(LUIGI_ARGS)

## test: the fast suite (slow scale tests are marked and left to test-slow)
test: install
	$(BIN)/pytest -q -m "not slow"

test-slow: install
	$(BIN)/pytest -q -m slow

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf build dist *.egg-info .pytest_cache .ruff_cache
