"""Migrations create the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from worker import db
from worker.models.partitions import include_name
from worker.schema import metadata
from worker.settings import Settings


def test_migrations_match_models(any_db_settings: Settings) -> None:
    engine = db.get_engine(any_db_settings.database_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_name": include_name})
        diff = compare_metadata(context, metadata)
    assert diff == [], f"models and migrations differ (run `make migration`): {diff}"


def _text(reflected: object) -> str:
    """A reflected index or constraint as text (partial indexes carry SQL clause objects)."""
    return json.dumps(reflected, sort_keys=True, default=str)


def _schema(settings: Settings) -> dict[str, object]:
    """Every table's columns, indexes, unique and foreign keys, and the Alembic revision."""
    engine = db.get_engine(settings.database_url)
    inspector = inspect(engine)
    schema: dict[str, object] = {}
    for table in sorted(inspector.get_table_names()):
        schema[table] = (
            [(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)],
            sorted(_text(i) for i in inspector.get_indexes(table)),
            sorted(_text(u) for u in inspector.get_unique_constraints(table)),
            sorted(_text(f) for f in inspector.get_foreign_keys(table)),
        )
    with engine.connect() as conn:
        schema["revision"] = MigrationContext.configure(conn).get_current_revision()
    return schema


def test_upgrade_is_idempotent(any_db_settings: Settings) -> None:
    before = _schema(any_db_settings)
    assert before["revision"] is not None and "deliveries" in before
    db.upgrade(any_db_settings)  # a second upgrade finds nothing to do
    assert _schema(any_db_settings) == before
