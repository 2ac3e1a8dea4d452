"""Migrations create the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from worker import db
from worker.models import Base
from worker.settings import Settings


def test_migrations_match_models(any_db_settings: Settings) -> None:
    engine = db.get_engine(any_db_settings.database_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], f"models and migrations differ (run `make migration`): {diff}"


def test_upgrade_is_idempotent(any_db_settings: Settings) -> None:
    db.upgrade(any_db_settings)  # a second upgrade finds nothing to do
