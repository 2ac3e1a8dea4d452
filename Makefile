# The two commands: `make run` (the daily job on the embedded default) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The bundled sample feeds describe this Kyiv day; `make run` builds its digest.
SAMPLE_DATE ?= 2026-11-27

.PHONY: run test lint typecheck pytest install install-dev clean bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

run: install
	$(BIN)/digestcast db upgrade
	$(BIN)/digestcast subscribers import examples/subscribers.csv
	$(BIN)/digestcast run --date $(SAMPLE_DATE)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install-dev
	$(BIN)/mypy

pytest: install-dev
	$(BIN)/pytest

test: lint typecheck pytest

bench: install-dev
	for b in bench/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache

# Until the first release the schema is one migration, regenerated from worker/models.py.
migration: install-dev
	rm -f worker/migrations/versions/0001_initial.py var/migration.db
	mkdir -p var
	DIGESTCAST_DATABASE_URL=sqlite:///var/migration.db $(BIN)/python -c "from worker.db import alembic_config; from alembic import command; command.revision(alembic_config('sqlite:///var/migration.db'), message='initial schema', autogenerate=True, rev_id='0001')"
	mv worker/migrations/versions/0001_initial_schema.py worker/migrations/versions/0001_initial.py
	rm -f var/migration.db
	$(BIN)/ruff format worker/migrations/versions/0001_initial.py
