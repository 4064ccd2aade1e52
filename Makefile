# Two commands do all the set-up on a fresh machine:
#   make demo   the main job on the embedded default (no server to install, no API key)
#   make test   lint, dbt build and pytest against PostgreSQL + TimescaleDB + pgvector
#
# `make test` uses ARC_EVAL_TEST_DSN when set; otherwise it runs scripts/provision-timescaledb.sh
# (Debian 12/13, root or sudo) to install and start a throwaway cluster, stopped when the tests end.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The demo installs what it runs (the `all` extra); the tests add the dev tools (the `dev` extra).
DEMO_STAMP := $(VENV)/.installed-all
STAMP := $(VENV)/.installed-dev

.PHONY: setup demo-setup demo test lint format test-db bench clean docs

setup: $(STAMP)
demo-setup: $(DEMO_STAMP)

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(DEMO_STAMP): pyproject.toml $(VENV)/bin/python
	$(BIN)/pip install --quiet -e '.[all]'
	touch $(DEMO_STAMP)

$(STAMP): pyproject.toml $(VENV)/bin/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP) $(DEMO_STAMP)

demo: demo-setup
	$(BIN)/arc-eval demo

lint: setup
	$(BIN)/ruff format --check loader tests bench examples tools
	$(BIN)/ruff check loader tests bench examples tools
	$(BIN)/python tools/async_to_sync.py --check
	$(BIN)/sqlfluff lint models tests/dbt

format: setup
	$(BIN)/python tools/async_to_sync.py
	$(BIN)/ruff format loader tests bench examples tools
	$(BIN)/ruff check --fix loader tests bench examples tools
	$(BIN)/sqlfluff fix models tests/dbt

docs: setup
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir site

test: setup lint docs
	@set -e; \
	if [ -z "$${ARC_EVAL_TEST_DSN:-}" ]; then \
	  pgdata=$$(mktemp -d -t arc-eval-pg.XXXXXX); \
	  trap 'bash scripts/stop-timescaledb.sh "$$pgdata"' EXIT; \
	  ARC_EVAL_TEST_DSN=$$(bash scripts/provision-timescaledb.sh "$$pgdata"); \
	fi; \
	export ARC_EVAL_TEST_DSN; \
	$(BIN)/python scripts/ci_build.py; \
	$(BIN)/pytest

bench: setup
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/failures.py
	$(BIN)/python bench/rollups.py
	$(BIN)/python bench/migrate.py
	$(BIN)/python bench/pages.py

clean:
	rm -rf target logs site .pytest_cache .ruff_cache
