"""the ledger partitioned by month of edition date on PostgreSQL (an edition_date column on both)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 03:00:00

PostgreSQL: `deliveries` is rebuilt as a table partitioned by RANGE (edition_date), one
partition a month from the oldest edition to two months ahead, and its rows copied in. A
partitioned table's unique keys must hold the partition key, so the primary key becomes
(id, edition_date) and the (digest, subscriber) key gains the date (a function of the
digest: the same rule); `delivery_events.delivery_id` can no longer be a foreign key to it,
and the ledger's own foreign keys to digests and subscribers go (half the fan-out's insert).
The indexes and foreign keys are recreated from their own definitions, read before the old
table goes; the counters' triggers are recreated on the new table (the counts do not change:
the same rows). SQLite keeps one plain table with the new column and key.
"""

from collections.abc import Sequence
from datetime import date

import sqlalchemy as sa
from alembic import op

from worker.delivery import counters
from worker.models import partitions

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UNIQUE = "uq_delivery_digest_subscriber"
# the ledger's per-row checks against digests and subscribers go (worker/models/editions.py)
_DROPPED_FKEYS = {
    "deliveries_digest_id_fkey": "FOREIGN KEY (digest_id) REFERENCES digests (id)",
    "deliveries_subscriber_id_fkey": "FOREIGN KEY (subscriber_id) REFERENCES subscribers (id)",
}
_EVENTS_FK = "delivery_events_delivery_id_fkey"
# SQLite's foreign keys have no names: batch mode names them by this convention to drop one
_SQLITE_FK = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}


def _definitions(conn: sa.Connection) -> tuple[list[str], list[tuple[str, str]]]:
    """The ledger's own indexes (CREATE INDEX statements) and foreign keys (name, definition)."""
    indexes = list(
        conn.scalars(
            sa.text(
                "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema()"
                " AND tablename = 'deliveries' AND indexname LIKE 'ix\\_%'"
            )
        )
    )
    fkeys = [
        (str(name), str(definition))
        for name, definition in conn.execute(
            sa.text(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
                " WHERE conrelid = 'deliveries'::regclass AND contype = 'f'"
            )
        )
    ]
    return indexes, fkeys


def _rebuild(conn: sa.Connection, create: list[str], copy: str, keys: list[str]) -> None:
    """Replace `deliveries` by the table `create` makes (named deliveries_new), rows copied by
    `copy`, with `keys` as its primary and unique keys; indexes, foreign keys, the id sequence
    and the counters' triggers carried over."""
    indexes, fkeys = _definitions(conn)
    for statement in counters.DROP["postgresql"]:
        op.execute(statement)
    op.execute("ALTER SEQUENCE deliveries_id_seq OWNED BY NONE")  # DROP TABLE would take it
    for statement in create:
        op.execute(statement)
    op.execute(copy)
    op.execute("DROP TABLE deliveries CASCADE")  # CASCADE: delivery_events' foreign key
    op.execute("ALTER TABLE deliveries_new RENAME TO deliveries")
    op.execute("ALTER SEQUENCE deliveries_id_seq OWNED BY deliveries.id")
    for statement in keys:
        op.execute(statement)
    for name, definition in fkeys:
        if name not in _DROPPED_FKEYS:
            op.execute(f"ALTER TABLE deliveries ADD CONSTRAINT {name} {definition}")
    for statement in indexes:
        # a partitioned parent's index reads "ON ONLY" (not recursing): a plain table's not
        op.execute(statement.replace(" ON ONLY ", " ON "))
    for statement in counters.PG_TRIGGERS:
        op.execute(statement)


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        _upgrade_sqlite()
        return
    oldest, newest = conn.execute(sa.text("SELECT min(date), max(date) FROM digests")).one()
    today = date.today()
    first, last = min(oldest or today, today), max(newest or today, today)
    for _ in range(partitions.MONTHS_AHEAD):
        last = partitions.next_month(partitions.month_of(last))
    create = [
        "CREATE TABLE deliveries_new (LIKE deliveries INCLUDING DEFAULTS,"
        " edition_date date NOT NULL) PARTITION BY RANGE (edition_date)"
    ]
    create += [partitions.create_sql(p, parent="deliveries_new") for p in partitions.months(first, last)]
    _rebuild(
        conn,
        create,
        "INSERT INTO deliveries_new SELECT d.*, g.date FROM deliveries d"
        " JOIN digests g ON g.id = d.digest_id",
        [
            "ALTER TABLE deliveries ADD CONSTRAINT deliveries_pkey PRIMARY KEY (id, edition_date)",
            f"ALTER TABLE deliveries ADD CONSTRAINT {_UNIQUE}"
            " UNIQUE (digest_id, subscriber_id, edition_date)",
        ],
    )


def _upgrade_sqlite() -> None:
    for statement in counters.DROP["sqlite"]:
        op.execute(statement)
    with op.batch_alter_table("deliveries") as batch_op:
        batch_op.add_column(sa.Column("edition_date", sa.Date(), nullable=True))
    op.execute(
        "UPDATE deliveries SET edition_date ="
        " (SELECT date FROM digests WHERE digests.id = deliveries.digest_id)"
    )
    with op.batch_alter_table("deliveries", naming_convention=_SQLITE_FK) as batch_op:
        batch_op.alter_column("edition_date", existing_type=sa.Date(), nullable=False)
        batch_op.drop_constraint(_UNIQUE, type_="unique")
        batch_op.create_unique_constraint(
            _UNIQUE, ["digest_id", "subscriber_id", "edition_date"]
        )
        for fkey in sa.inspect(op.get_bind()).get_foreign_keys("deliveries"):
            if fkey["referred_table"] in ("digests", "subscribers"):
                name = fkey["name"] or f"fk_deliveries_{fkey['constrained_columns'][0]}_" + str(
                    fkey["referred_table"]
                )
                batch_op.drop_constraint(name, type_="foreignkey")
    reflected = sa.inspect(op.get_bind()).get_foreign_keys("delivery_events")
    for fkey in reflected:
        if fkey["referred_table"] != "deliveries":
            continue
        # named where a migration named it; otherwise batch mode names it by the convention
        name = fkey["name"] or "fk_delivery_events_delivery_id_deliveries"
        with op.batch_alter_table("delivery_events", naming_convention=_SQLITE_FK) as batch_op:
            batch_op.drop_constraint(name, type_="foreignkey")
    for statement in counters.SQLITE_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        for statement in counters.DROP["sqlite"]:
            op.execute(statement)
        with op.batch_alter_table("delivery_events") as batch_op:
            batch_op.create_foreign_key(_EVENTS_FK, "deliveries", ["delivery_id"], ["id"])
        with op.batch_alter_table("deliveries") as batch_op:
            batch_op.drop_constraint(_UNIQUE, type_="unique")
            batch_op.create_unique_constraint(_UNIQUE, ["digest_id", "subscriber_id"])
            batch_op.drop_column("edition_date")
            batch_op.create_foreign_key("deliveries_digest_id_fkey", "digests", ["digest_id"], ["id"])
            batch_op.create_foreign_key(
                "deliveries_subscriber_id_fkey", "subscribers", ["subscriber_id"], ["id"]
            )
        for statement in counters.SQLITE_TRIGGERS:
            op.execute(statement)
        return
    columns = ", ".join(
        conn.scalars(
            sa.text(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_schema = current_schema() AND table_name = 'deliveries'"
                " AND column_name <> 'edition_date' ORDER BY ordinal_position"
            )
        )
    )
    _rebuild(
        conn,
        [
            "CREATE TABLE deliveries_new (LIKE deliveries INCLUDING DEFAULTS)",
            "ALTER TABLE deliveries_new DROP COLUMN edition_date",
        ],
        f"INSERT INTO deliveries_new ({columns}) SELECT {columns} FROM deliveries",
        [
            "ALTER TABLE deliveries ADD CONSTRAINT deliveries_pkey PRIMARY KEY (id)",
            f"ALTER TABLE deliveries ADD CONSTRAINT {_UNIQUE} UNIQUE (digest_id, subscriber_id)",
            f"ALTER TABLE delivery_events ADD CONSTRAINT {_EVENTS_FK}"
            " FOREIGN KEY (delivery_id) REFERENCES deliveries (id)",
            *(
                f"ALTER TABLE deliveries ADD CONSTRAINT {name} {definition}"
                for name, definition in _DROPPED_FKEYS.items()
            ),
        ],
    )
