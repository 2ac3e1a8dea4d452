"""listen counts: the web player's beacons (plays, quartiles), counters only

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 20:10:35.028645
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import worker.models


revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "listen_counts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(length=8), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("updated_at", worker.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "kind", "target_id", "event", name="uq_listen_counts_kind_target_event"
        ),
    )


def downgrade() -> None:
    op.drop_table("listen_counts")
