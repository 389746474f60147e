# sellerhub: `make run`, `make test`, `make bench` work on a fresh machine with Python 3.11+ and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml sdk/python/pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test lint typecheck pytest bench install clean jsbuild jstest

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml sdk/python/pyproject.toml
	@$(BIN)/python -m pip install --quiet -e '.[dev]' -e sdk/python  # the Python SDK too
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

install: $(STAMP) jsbuild

# The browser SDK (sdk/js): npm ci when its lock changes, then tsc + the bundle dist/sellerhub.js.
JS := sdk/js
$(JS)/node_modules/.package-lock.json: $(JS)/package-lock.json
	cd $(JS) && npm ci --no-audit --no-fund

jsbuild: $(JS)/node_modules/.package-lock.json
	cd $(JS) && npm run build

jstest: $(JS)/node_modules/.package-lock.json  # tsc --noEmit (strict), build, node --test
	cd $(JS) && npm test --silent

run: $(STAMP)
	$(BIN)/sellerhub run

lint: $(STAMP)
	$(BIN)/ruff check src tests bench migrations sdk/python
	$(BIN)/ruff format --check src tests bench migrations sdk/python
	$(BIN)/lint-imports  # the import contracts in .importlinter

typecheck: $(STAMP)
	$(BIN)/mypy src tests bench
	$(BIN)/mypy sdk/python/src sdk/python/tests  # the SDK, a distribution of its own

pytest: $(STAMP) jsbuild
	@command -v chromium >/dev/null || (apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >&2  # tests/web
	$(BIN)/pytest -q

test: lint typecheck jstest pytest

bench: $(STAMP)
	@command -v wrk >/dev/null || (apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk) >&2
	@$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
