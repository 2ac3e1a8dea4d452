"""ledger counters per state (kept by triggers), totals of pruned editions, ledger indexes

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 23:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import worker.models
from worker.delivery import counters

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "delivery_counts",
        sa.Column("digest_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("shard", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["digest_id"], ["digests.id"]),
        sa.PrimaryKeyConstraint("digest_id", "state", "shard"),
    )
    op.create_table(
        "edition_totals",
        sa.Column("digest_id", sa.Integer(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("pruned_at", worker.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["digest_id"], ["digests.id"]),
        sa.PrimaryKeyConstraint("digest_id"),
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_digest_state")
        # in-flight, sent and resent rows only (PostgreSQL; SQLite keeps the first whole)
        batch_op.drop_index("ix_deliveries_state_dispatched")
        batch_op.create_index(
            "ix_deliveries_state_dispatched",
            ["state", "dispatched_at"],
            unique=False,
            postgresql_where=sa.text("state IN ('queued', 'sending')"),
        )
        batch_op.drop_index("ix_deliveries_digest_sent_at")
        batch_op.create_index(
            "ix_deliveries_digest_sent_at",
            ["digest_id", "sent_at"],
            unique=False,
            postgresql_where=sa.text("sent_at IS NOT NULL"),
            sqlite_where=sa.text("sent_at IS NOT NULL"),
        )
        batch_op.drop_index("ix_deliveries_resend_id")
        batch_op.create_index(
            "ix_deliveries_resend_id",
            ["resend_id"],
            unique=False,
            postgresql_where=sa.text("resend_id IS NOT NULL"),
            sqlite_where=sa.text("resend_id IS NOT NULL"),
        )
        batch_op.create_index(
            "ix_deliveries_digest_retried",
            ["digest_id", "subscriber_id"],
            unique=False,
            postgresql_where=sa.text("attempts > 1"),
            sqlite_where=sa.text("attempts > 1"),
        )
    dialect = op.get_bind().dialect.name
    op.execute(counters.BACKFILL[dialect])
    for statement in counters.PG_TRIGGERS if dialect == "postgresql" else counters.SQLITE_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    for statement in counters.DROP[op.get_bind().dialect.name]:
        op.execute(statement)
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_digest_retried")
        batch_op.create_index("ix_deliveries_digest_state", ["digest_id", "state"], unique=False)
        for name, columns in (
            ("ix_deliveries_state_dispatched", ["state", "dispatched_at"]),
            ("ix_deliveries_digest_sent_at", ["digest_id", "sent_at"]),
            ("ix_deliveries_resend_id", ["resend_id"]),
        ):
            batch_op.drop_index(name)
            batch_op.create_index(name, columns, unique=False)
    op.drop_table("edition_totals")
    op.drop_table("delivery_counts")
