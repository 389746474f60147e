# sellerhub: `make run`, `make test`, `make bench` work on a fresh machine with Python 3.11+ and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml sdk/python/pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test lint typecheck pytest bench install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml sdk/python/pyproject.toml
	@$(BIN)/python -m pip install --quiet -e '.[dev]' -e sdk/python  # the Python SDK too
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/sellerhub run

lint: $(STAMP)
	$(BIN)/ruff check src tests bench migrations sdk/python
	$(BIN)/ruff format --check src tests bench migrations sdk/python
	$(BIN)/lint-imports  # the import contracts in .importlinter

typecheck: $(STAMP)
	$(BIN)/mypy src tests bench
	$(BIN)/mypy sdk/python/src sdk/python/tests  # the SDK, a distribution of its own

pytest: $(STAMP)
	@command -v chromium >/dev/null || (apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >&2  # tests/web
	$(BIN)/pytest -q

test: lint typecheck pytest

bench: $(STAMP)
	@command -v wrk >/dev/null || (apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk) >&2
	@$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
