"""newsletters: editions keyed by (newsletter, date), subscriptions per newsletter

Every edition and every subscriber of an existing install goes on the default newsletter
(`daily`, the one a setup without a newsletters table has): the digests get
newsletter = 'daily' (their ledger rows follow their digest), and each subscriber one
subscription to it, so nobody gains or loses a mail by upgrading.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 23:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import worker.models

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite names no constraint made by 0001; batch mode reflects it under this name
_NAMES = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def _drop_date_unique(batch_op: object) -> None:
    """0001's UNIQUE (date): PostgreSQL named it itself (digests_date_key), SQLite's unnamed
    one is reflected under _NAMES."""
    name = "uq_digests_date"
    if op.get_bind().dialect.name == "postgresql":
        for found in sa.inspect(op.get_bind()).get_unique_constraints("digests"):
            if found["column_names"] == ["date"] and found["name"]:
                name = found["name"]
    batch_op.drop_constraint(name, type_="unique")  # type: ignore[attr-defined]


def upgrade() -> None:
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("newsletter", sa.String(length=64), nullable=False),
        sa.Column("created_at", worker.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", worker.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("left_at", worker.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("welcomed_at", worker.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["subscriber_id"], ["subscribers.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("subscriber_id", "newsletter", name="uq_subscriptions_subscriber_nl"),
    )
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_subscriptions_newsletter_subscriber", ["newsletter", "subscriber_id"], unique=False
        )
    with op.batch_alter_table("digests", schema=None, naming_convention=_NAMES) as batch_op:
        batch_op.add_column(
            sa.Column("newsletter", sa.String(length=64), server_default="daily", nullable=False)
        )
        _drop_date_unique(batch_op)
        batch_op.create_index(batch_op.f("ix_digests_date"), ["date"], unique=False)
        batch_op.create_unique_constraint("uq_digests_newsletter_date", ["newsletter", "date"])
    # everyone who was on the one newsletter stays on it (a pending or unsubscribed row too:
    # its global state keeps it unmailed until it confirms again); nobody is welcomed twice
    op.execute(
        "INSERT INTO subscriptions"
        " (subscriber_id, newsletter, created_at, confirmed_at, welcomed_at)"
        " SELECT id, 'daily', created_at, COALESCE(confirmed_at, created_at), confirmed_at"
        " FROM subscribers"
    )


def downgrade() -> None:
    # the default newsletter's editions are what 0008 can hold; the others go, with their rows
    others = "SELECT id FROM digests WHERE newsletter <> 'daily'"
    rows = f"SELECT id FROM deliveries WHERE digest_id IN ({others})"
    op.execute(f"DELETE FROM delivery_events WHERE delivery_id IN ({rows})")  # noqa: S608
    for table in ("deliveries", "resends", "edition_events"):
        op.execute(f"DELETE FROM {table} WHERE digest_id IN ({others})")  # noqa: S608
    op.execute("UPDATE articles SET digest_id = NULL WHERE digest_id IN (" + others + ")")
    op.execute("UPDATE feed_items SET digest_id = NULL WHERE digest_id IN (" + others + ")")
    op.execute("DELETE FROM digests WHERE newsletter <> 'daily'")
    with op.batch_alter_table("digests", schema=None) as batch_op:
        batch_op.drop_constraint("uq_digests_newsletter_date", type_="unique")
        batch_op.drop_index(batch_op.f("ix_digests_date"))
        batch_op.create_unique_constraint("uq_digests_date", ["date"])
        batch_op.drop_column("newsletter")
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_index("ix_subscriptions_newsletter_subscriber")
    op.drop_table("subscriptions")
