# `make serve` and `make test` work on a fresh machine with Python 3.11+ and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# .venv holds exactly what uv.lock pins, installed by uv: this version, pip-installed
# into a venv of its own, since syncing .venv removes whatever the lock does not name.
UV_VERSION := 0.13.9
TOOLS := .venv-tools
UV := $(TOOLS)/bin/uv
UV_STAMP := $(TOOLS)/.uv-$(UV_VERSION)
export UV_PROJECT_ENVIRONMENT := $(VENV)
# $(PYTHON), never a Python uv would download.
export UV_PYTHON := $(PYTHON)
export UV_PYTHON_DOWNLOADS := never

.PHONY: serve test lint schema check-schema lock check-lock vendor clean

$(UV_STAMP):
	rm -rf $(TOOLS)
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet "uv==$(UV_VERSION)"
	touch $@

# --locked: a pyproject.toml that uv.lock no longer matches stops the install
# (run `make lock`) rather than installing something untested. The venv is seeded
# with pip, which uv keeps, for tools installed by hand (bench/README.md).
$(STAMP): pyproject.toml uv.lock $(UV_STAMP)
	test -x $(BIN)/python || $(UV) venv --quiet --seed $(VENV)
	$(UV) sync --quiet --locked --extra dev
	touch $(STAMP)

serve: $(STAMP)
	$(BIN)/journeys serve

# One pytest worker per core; tests/conftest.py keeps the tests that start processes on one.
# A worker that dies ends the run, naming its test: under loadgroup, pytest-xdist 3.8 would
# wait forever for the work it gives the replacement (pytest-xdist#1378).
test: $(STAMP)
	$(BIN)/pytest -n auto --dist loadgroup --max-worker-restart 0

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy domain store service gql jobs cli bench

schema: $(STAMP)
	$(BIN)/journeys export-schema

check-schema: $(STAMP)
	$(BIN)/journeys export-schema --output .schema.check.graphql
	@if ! cmp -s schema.graphql .schema.check.graphql; then \
		rm -f .schema.check.graphql; \
		echo "schema.graphql is stale: run 'make schema' and commit it"; exit 1; \
	fi
	@rm -f .schema.check.graphql; echo "schema.graphql is current"

# uv.lock again after a change to pyproject.toml, keeping every pin the change does
# not touch (`.venv-tools/bin/uv lock --upgrade` moves them all to the newest allowed).
lock: $(UV_STAMP)
	$(UV) lock

# CI: pyproject.toml and uv.lock agree.
check-lock: $(UV_STAMP)
	@$(UV) lock --check || { echo "uv.lock does not match pyproject.toml: run 'make lock' and commit uv.lock"; exit 1; }

# The dashboard's third-party browser files (web/static/vendor/, committed),
# rebuilt from web/package-lock.json. Serving never needs this or Node.
vendor:
	cd web && npm ci --no-audit --no-fund && node build.mjs

clean:
	rm -rf $(VENV) $(TOOLS) journeys.db journeys.db-wal journeys.db-shm
