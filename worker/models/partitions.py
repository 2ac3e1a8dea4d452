"""The ledger's monthly partitions on PostgreSQL: `deliveries` is partitioned by edition date.

The ledger grows by one row per subscriber per edition for ever. Partitioned by month of the
edition's date (migration 0011), the day's send only touches this month's partition and its
indexes, however many years lie behind it, and `digestcast db prune` drops a whole month
(DROP TABLE, no dead rows to vacuum) instead of deleting its rows one by one.

A row can only go into a partition that exists, so partitions are made ahead: the beat's
`ledger-partitions` entry runs `ensure_ahead` every day (this month and the next
MONTHS_AHEAD), and the fan-out, a resend and any row inserted without its date (the column's
default) call `ensure` for their edition's month first (a missed beat must not stop a send).
Making a partition briefly locks the parent, which is why the beat does it weeks ahead rather
than the send at 07:00.

SQLite keeps one plain table: every function here does nothing there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, text

PARENT = "deliveries"
MONTHS_AHEAD = 2
LOCK_TIMEOUT_SECONDS = 5.0  # how long making a partition may wait for the ledger's lock
_NAME = re.compile(r"^deliveries_y(\d{4})m(\d{2})$")
_LOCK = "SELECT pg_advisory_xact_lock(hashtext('digestcast.deliveries.partitions'))"
# (database, partition) this process saw or made: they only go by prune, which forgets them
_known: set[tuple[str, str]] = set()


@dataclass(frozen=True)
class Partition:
    name: str
    first: date  # the first day it holds
    end: date  # the first day it does not hold

    def holds_only_before(self, day: date) -> bool:
        return self.end <= day


def _database(conn: Connection) -> str:
    return conn.engine.url.render_as_string(hide_password=True)


def month_of(day: date) -> date:
    return day.replace(day=1)


def next_month(first: date) -> date:
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


def partition_for(day: date) -> Partition:
    first = month_of(day)
    return Partition(f"{PARENT}_y{first.year:04d}m{first.month:02d}", first, next_month(first))


def months(start: date, end: date) -> list[Partition]:
    """The partitions of every month from `start`'s to `end`'s, both included."""
    found, first = [], month_of(start)
    while first <= month_of(end):
        found.append(partition_for(first))
        first = next_month(first)
    return found


def partitioned(conn: Connection) -> bool:
    if conn.dialect.name != "postgresql":
        return False
    kind = conn.scalar(
        text("SELECT relkind FROM pg_class WHERE oid = to_regclass(:t)"), {"t": PARENT}
    )
    return bool(kind == "p")


def create_sql(partition: Partition, parent: str = PARENT) -> str:
    # the name and bounds come from a date, never from input
    return (
        f'CREATE TABLE IF NOT EXISTS "{partition.name}" PARTITION OF {parent}'
        f" FOR VALUES FROM ('{partition.first.isoformat()}') TO ('{partition.end.isoformat()}')"
    )


def ensure(conn: Connection, day: date) -> bool:
    """Make the partition that holds `day`'s rows if it is missing; True when it was made."""
    partition = partition_for(day)
    key = (_database(conn), partition.name)
    if key in _known or not partitioned(conn):
        return False
    made = False
    if conn.scalar(text("SELECT to_regclass(:t)"), {"t": partition.name}) is None:
        # making a partition waits for every open transaction on the ledger, and while it
        # waits every other reader queues behind it: bounded, it fails (the task is retried)
        # instead of stalling the send; the transaction's own setting is back afterwards
        conn.execute(text(f"SET LOCAL lock_timeout = '{int(LOCK_TIMEOUT_SECONDS * 1000)}ms'"))
        conn.execute(text(_LOCK))  # two workers making the same month: one makes it
        if conn.scalar(text("SELECT to_regclass(:t)"), {"t": partition.name}) is None:
            conn.execute(text(create_sql(partition)))
            made = True
        conn.execute(text("SET LOCAL lock_timeout TO DEFAULT"))
    _known.add(key)
    return made


def ensure_ahead(conn: Connection, today: date, months_ahead: int = MONTHS_AHEAD) -> list[str]:
    """This month's partition and the next `months_ahead`: the names of those made now."""
    last = today
    for _ in range(months_ahead):
        last = next_month(month_of(last))
    return [p.name for p in months(today, last) if ensure(conn, p.first)]


def existing(conn: Connection) -> list[Partition]:
    """The ledger's partitions, oldest first (none on SQLite)."""
    if not partitioned(conn):
        return []
    names = conn.scalars(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = to_regclass(:t)"
        ),
        {"t": PARENT},
    )
    found = []
    for name in names:
        matched = _NAME.match(name)
        if matched:  # ours; anything else someone attached by hand is left alone
            found.append(partition_for(date(int(matched[1]), int(matched[2]), 1)))
    return sorted(found, key=lambda p: p.first)


def is_partition(table_name: str) -> bool:
    """A month of the ledger (migrations and schema checks compare the parent only)."""
    return _NAME.match(table_name) is not None


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic's filter: the months are made at run time, the models describe the parent."""
    return not (type_ == "table" and name is not None and is_partition(name))


def drop(conn: Connection, partition: Partition) -> None:
    """Detach and drop one month of the ledger (prune has kept its editions' totals)."""
    conn.execute(text(f'ALTER TABLE {PARENT} DETACH PARTITION "{partition.name}"'))
    conn.execute(text(f'DROP TABLE "{partition.name}"'))
    _known.discard((_database(conn), partition.name))
