# `make serve` and `make test` work on a fresh machine with Python 3.11+ and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: serve test lint schema check-schema vendor clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

serve: $(STAMP)
	$(BIN)/journeys serve

test: $(STAMP)
	$(BIN)/pytest

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

# The dashboard's third-party browser files (web/static/vendor/, committed),
# rebuilt from web/package-lock.json. Serving never needs this or Node.
vendor:
	cd web && npm ci --no-audit --no-fund && node build.mjs

clean:
	rm -rf $(VENV) journeys.db journeys.db-wal journeys.db-shm
