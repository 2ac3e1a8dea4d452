"""The delivery ledger: one row per (digest, subscriber), claimed atomically before sending.

Row life: queued -> sending (claimed with a lease) -> sent | failed | suppressed, or back to
queued for a retry (4xx, dropped connection) or after the lease expired (the worker died).
Every statement here is plain SQL that behaves the same on SQLite (>= 3.35, for RETURNING)
and PostgreSQL; inserts use ON CONFLICT DO NOTHING so fan-out and re-fan-out are idempotent.
Each outcome is committed on its own right after the relay's answer: a crash then loses at
most the one message in flight (sent but not yet recorded), which the lease brings back.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parseaddr
from typing import Any

from sqlalchemy import (
    Connection,
    String,
    Table,
    and_,
    case,
    cast,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from worker.models import (
    Delivery,
    DeliveryEvent,
    DeliveryState,
    Digest,
    DigestState,
    Subscriber,
    SubscriberState,
    Suppression,
    utcnow,
)
from worker.settings import Settings

IN_FLIGHT = (DeliveryState.queued, DeliveryState.sending)
_DT = Delivery.created_at.type
# Core tables for the hot path (no ORM unit of work per message)
DELIVERIES: Table = Delivery.__table__  # type: ignore[assignment]
EVENTS: Table = DeliveryEvent.__table__  # type: ignore[assignment]


def _insert(bind: Any, table: Any) -> Any:
    dialect = bind.dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise RuntimeError(f"unsupported database dialect {dialect!r}")


def message_domain(settings: Settings) -> str:
    address = parseaddr(settings.from_address)[1]
    domain = address.rpartition("@")[2].strip().lower()
    return domain or "digestcast.invalid"


def envelope_sender(settings: Settings) -> str:
    return parseaddr(settings.bounce_address or settings.from_address)[1]


def message_id(digest_id: int, subscriber_id: int, domain: str, resend: int = 0) -> str:
    """Stable per row, so a copy re-sent after a crash is recognisable as the same message."""
    suffix = f".r{resend}" if resend else ""
    return f"<digest-{digest_id}.sub-{subscriber_id}{suffix}@{domain}>"


# ---------------------------------------------------------------- the digest's send claim
def claim_send(session: Session, digest_id: int, lease_seconds: int) -> bool:
    """Claim the digest's fan-out; True for exactly one of any number of concurrent callers.

    The digest stays `built` during fan-out and becomes `sending` once every row exists, so a
    fan-out that died half-way (claim older than the lease, still `built`) can be claimed again.
    """
    now = utcnow()
    stale = now - timedelta(seconds=lease_seconds)
    result = session.execute(
        update(Digest)
        .where(
            Digest.id == digest_id,
            or_(
                Digest.send_claimed_at.is_(None),
                and_(Digest.state == DigestState.built, Digest.send_claimed_at < stale),
            ),
        )
        .values(send_claimed_at=now)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def renew_send_claim(session: Session, digest_id: int) -> None:
    session.execute(
        update(Digest)
        .where(Digest.id == digest_id)
        .values(send_claimed_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def finish_fan_out(session: Session, digest_id: int) -> None:
    session.execute(
        update(Digest)
        .where(Digest.id == digest_id, Digest.state == DigestState.built)
        .values(state=DigestState.sending)
        .execution_options(synchronize_session=False)
    )
    session.commit()


def fan_out(
    session: Session, settings: Settings, digest_id: int, batch_size: int
) -> Iterator[list[int]]:
    """Create the rows for every active subscriber, `batch_size` subscribers at a time.

    Yields the ids of queued rows of each batch (including rows left queued by an earlier,
    interrupted fan-out), committed and marked dispatched. Subscribers are walked by id
    (keyset pagination), so memory stays flat however long the list is.
    """
    domain = message_domain(settings)
    prefix = f"<digest-{digest_id}.sub-"
    after = 0
    while True:
        now = utcnow()
        ids = list(
            session.scalars(
                select(Subscriber.id)
                .where(
                    Subscriber.id > after,
                    Subscriber.state == SubscriberState.active,
                    Subscriber.wants_daily.is_(True),
                )
                .order_by(Subscriber.id)
                .limit(batch_size)
            )
        )
        if not ids:
            return
        upper = ids[-1]
        state = case(
            (Suppression.id.is_not(None), literal(DeliveryState.suppressed.value)),
            else_=literal(DeliveryState.queued.value),
        )
        rows = (
            select(
                literal(digest_id).label("digest_id"),
                Subscriber.id.label("subscriber_id"),
                state.label("state"),
                (literal(prefix) + cast(Subscriber.id, String) + literal(f"@{domain}>")).label(
                    "message_id"
                ),
                literal(0).label("attempts"),
                literal(0).label("resend_count"),
                literal(now, _DT).label("created_at"),
                literal(now, _DT).label("dispatched_at"),
            )
            .select_from(Subscriber)
            .outerjoin(Suppression, Suppression.email == Subscriber.email)
            .where(
                Subscriber.id > after,
                Subscriber.id <= upper,
                Subscriber.state == SubscriberState.active,
                Subscriber.wants_daily.is_(True),
            )
        )
        columns = [
            "digest_id",
            "subscriber_id",
            "state",
            "message_id",
            "attempts",
            "resend_count",
            "created_at",
            "dispatched_at",
        ]
        stmt = (
            _insert(session.get_bind(), Delivery)
            .from_select(columns, rows)
            .on_conflict_do_nothing(index_elements=["digest_id", "subscriber_id"])
        )
        session.execute(stmt)
        queued = list(
            session.execute(
                update(Delivery)
                .where(
                    Delivery.digest_id == digest_id,
                    Delivery.subscriber_id > after,
                    Delivery.subscriber_id <= upper,
                    Delivery.state == DeliveryState.queued,
                )
                .values(dispatched_at=now)
                .returning(Delivery.id)
                .execution_options(synchronize_session=False)
            ).scalars()
        )
        renew_send_claim(session, digest_id)
        session.commit()
        after = upper
        if queued:
            yield sorted(queued)


# ---------------------------------------------------------------- claiming and outcomes
def claim(conn: Connection, ids: Sequence[int], lease_seconds: int) -> list[int]:
    """Atomically move queued rows to sending; returns the ids this caller now owns."""
    if not ids:
        return []
    now = utcnow()
    result = conn.execute(
        update(DELIVERIES)
        .where(
            DELIVERIES.c.id.in_(list(ids)),
            DELIVERIES.c.state == DeliveryState.queued,
        )
        .values(
            state=DeliveryState.sending,
            lease_until=now + timedelta(seconds=lease_seconds),
            attempts=DELIVERIES.c.attempts + 1,
        )
        .returning(DELIVERIES.c.id)
    )
    owned = sorted(int(i) for i in result.scalars())
    conn.commit()
    return owned


def renew(conn: Connection, ids: Sequence[int], lease_seconds: int) -> None:
    """Extend the lease of rows still being sent (a throttled or slow batch is not lost)."""
    if not ids:
        return
    d = DELIVERIES.c
    conn.execute(
        update(DELIVERIES)
        .where(d.id.in_(list(ids)), d.state == DeliveryState.sending)
        .values(lease_until=utcnow() + timedelta(seconds=lease_seconds))
    )
    conn.commit()


@dataclass(frozen=True)
class Row:
    delivery_id: int
    subscriber_id: int
    email: str
    name: str | None
    message_id: str
    attempts: int
    skip_reason: str | None  # unsubscribed / suppressed since the fan-out


def load_rows(conn: Connection, ids: Sequence[int]) -> list[Row]:
    d = DELIVERIES.c
    s = Subscriber.__table__.c
    p = Suppression.__table__.c
    query = (
        select(d.id, s.id, s.email, s.name, d.message_id, d.attempts, s.state, s.wants_daily, p.id)
        .select_from(
            DELIVERIES.join(Subscriber.__table__, s.id == d.subscriber_id).outerjoin(
                Suppression.__table__, p.email == s.email
            )
        )
        .where(d.id.in_(list(ids)))
        .order_by(d.id)
    )
    rows = []
    for did, sid, email, name, mid, attempts, sstate, wants, supp in conn.execute(query):
        reason = None
        if supp is not None:
            reason = "address is on the suppression list"
        elif sstate != SubscriberState.active.value or not wants:
            reason = f"subscriber is {sstate}"
        rows.append(Row(did, sid, email, name, mid, attempts, reason))
    return rows


def _event(conn: Connection, delivery_id: int, kind: str, detail: str) -> None:
    conn.execute(
        EVENTS.insert().values(
            delivery_id=delivery_id, at=utcnow(), kind=kind, detail=detail[:4000]
        )
    )


def _set(conn: Connection, delivery_id: int, **values: Any) -> int:
    d = DELIVERIES.c
    result = conn.execute(
        update(DELIVERIES)
        .where(d.id == delivery_id, d.state == DeliveryState.sending)
        .values(**values)
    )
    return int(result.rowcount)


def mark_sent(conn: Connection, delivery_id: int, code: int) -> None:
    _set(
        conn,
        delivery_id,
        state=DeliveryState.sent,
        sent_at=utcnow(),
        smtp_code=code,
        lease_until=None,
    )
    conn.commit()


class SentRecorder:
    """Records "sent" right after the relay's 250, without waiting for the database.

    On PostgreSQL the UPDATE goes out on its own autocommit connection as a prepared statement
    (libpq's asynchronous send) and its result is collected just before the next one, so the
    database works while the next message is on the wire. The statement has left this process
    before the next message is sent: a worker killed after that still has it applied (the
    server reads what is in its socket), so a kill can still duplicate only the one message
    whose 250 had not been recorded. With `async_commit`, `synchronous_commit=off` for this
    connection: a PostgreSQL crash (not a worker crash) could forget the last fraction of a
    second of marks, whose rows then come back through their lease (re-sent). SQLite: mark_sent.
    """

    _PG_SQL = (
        b"UPDATE deliveries SET state = 'sent', sent_at = $1::timestamptz, smtp_code = $2::int,"
        b" lease_until = NULL WHERE id = $3::int AND state = 'sending'"
    )

    def __init__(self, conn: Connection, async_commit: bool) -> None:
        self.fallback = conn
        self.fast: Connection | None = None
        self.pgconn: Any = None
        self.waiting = False
        # unique per recorder: a pooled connection may still hold an earlier one's statement
        self.name = f"digestcast_mark_sent_{uuid.uuid4().hex[:12]}".encode()
        if conn.dialect.name == "postgresql":
            self.fast = conn.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            if async_commit:
                self.fast.exec_driver_sql("SET synchronous_commit TO off")
            raw: Any = self.fast.connection.driver_connection
            self.pgconn = raw.pgconn
            self._check(self.pgconn.prepare(self.name, self._PG_SQL))

    @staticmethod
    def _check(result: Any) -> None:
        from psycopg import pq

        if result.status not in (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK):
            raise RuntimeError(f"recording a sent message failed: {result.error_message!r}")

    def _collect(self) -> None:
        if self.waiting:
            self.waiting = False
            while (result := self.pgconn.get_result()) is not None:
                self._check(result)

    def sent(self, delivery_id: int, code: int) -> None:
        if self.pgconn is None:
            mark_sent(self.fallback, delivery_id, code)
            return
        self._collect()
        params = [utcnow().isoformat().encode(), str(code).encode(), str(delivery_id).encode()]
        self.pgconn.send_query_prepared(self.name, params)  # blocking mode: flushed on return
        self.waiting = True

    def close(self) -> None:
        if self.fast is None:
            return
        try:
            self._collect()
            self.pgconn.exec_(b"DEALLOCATE " + self.name)
            self.fast.exec_driver_sql("RESET synchronous_commit")
        finally:
            self.fast.close()


def mark_skipped(conn: Connection, delivery_id: int, reason: str) -> None:
    _set(conn, delivery_id, state=DeliveryState.suppressed, last_error=reason, lease_until=None)
    _event(conn, delivery_id, "skipped", reason)
    conn.commit()


def mark_failed(
    conn: Connection, delivery_id: int, code: int | None, reply: str, suppress_email: str | None
) -> None:
    _set(
        conn,
        delivery_id,
        state=DeliveryState.failed,
        smtp_code=code,
        last_error=reply,
        lease_until=None,
    )
    _event(conn, delivery_id, "failed", f"{code} {reply}")
    if suppress_email:
        conn.execute(
            _insert(conn, Suppression)
            .values(email=suppress_email, reason=f"{code} {reply}"[:2000], created_at=utcnow())
            .on_conflict_do_nothing(index_elements=["email"])
        )
    conn.commit()


def mark_deferred(
    conn: Connection,
    delivery_id: int,
    code: int | None,
    reply: str,
    retry_at: datetime,
    final: bool,
) -> None:
    """A transient failure: back to queued (due at `retry_at`), or failed when out of attempts."""
    if final:
        _set(
            conn,
            delivery_id,
            state=DeliveryState.failed,
            smtp_code=code,
            last_error=reply,
            lease_until=None,
        )
        _event(conn, delivery_id, "failed", f"out of attempts; last reply {code} {reply}")
    else:
        _set(
            conn,
            delivery_id,
            state=DeliveryState.queued,
            smtp_code=code,
            last_error=reply,
            lease_until=None,
            dispatched_at=retry_at,
        )
        _event(conn, delivery_id, "deferred", f"{code} {reply}; retry at {retry_at.isoformat()}")
    conn.commit()


def mark_unknown(conn: Connection, delivery_id: int, reply: str) -> None:
    """Connection lost after DATA, before the reply (RFC 1047): the relay may have the message.

    The row stays `sending`: it is not retried now; when its lease expires the reconciler
    queues it again, and that re-send is the only duplicate the ledger allows.
    """
    _event(conn, delivery_id, "unknown_outcome", reply)
    conn.commit()


def release(conn: Connection, ids: Sequence[int], due: datetime) -> None:
    """Give back claimed rows that were never attempted (attempt not counted), due at `due`."""
    if not ids:
        return
    d = DELIVERIES.c
    conn.execute(
        update(DELIVERIES)
        .where(d.id.in_(list(ids)), d.state == DeliveryState.sending)
        .values(
            state=DeliveryState.queued, lease_until=None, attempts=d.attempts - 1, dispatched_at=due
        )
    )
    conn.commit()


def postpone(conn: Connection, ids: Sequence[int], due: datetime) -> None:
    """Queued rows not to be picked up again before `due` (the relay is down)."""
    if not ids:
        return
    d = DELIVERIES.c
    for start in range(0, len(ids), 500):
        conn.execute(
            update(DELIVERIES)
            .where(d.id.in_(list(ids[start : start + 500])), d.state == DeliveryState.queued)
            .values(dispatched_at=due)
        )
    conn.commit()


# ---------------------------------------------------------------- reconciliation
def expire_leases(session: Session, settings: Settings) -> int:
    """Rows stuck in `sending` past their lease go back to queued (the worker died)."""
    now = utcnow()
    expired = list(
        session.execute(
            update(Delivery)
            .where(Delivery.state == DeliveryState.sending, Delivery.lease_until < now)
            .values(state=DeliveryState.queued, lease_until=None, dispatched_at=None)
            .returning(Delivery.id, Delivery.attempts)
            .execution_options(synchronize_session=False)
        )
    )
    for delivery_id, attempts in expired:
        session.add(
            DeliveryEvent(
                delivery_id=delivery_id,
                kind="lease_expired",
                detail=json.dumps(
                    {
                        "attempts": attempts,
                        "note": "claimed but not recorded in time; queued again "
                        "(if the relay had accepted it, this is the one possible duplicate)",
                    }
                ),
            )
        )
    session.commit()
    return len(expired)


def stale_queued(
    session: Session, settings: Settings, batch_size: int
) -> Iterator[tuple[int, list[int]]]:
    """Queued rows whose batch task seems lost, as (digest_id, ids) batches, marked re-dispatched.

    With a broker, a row counts as lost once `send_redispatch_seconds` passed since its dispatch
    (or its retry fell due); in-process nothing waits in a queue, so any due row is.
    """
    now = utcnow()
    wait = 0 if settings.embedded else settings.send_redispatch_seconds
    cutoff = now - timedelta(seconds=wait)
    after = 0
    while True:
        batch = list(
            session.execute(
                select(Delivery.id, Delivery.digest_id)
                .where(
                    Delivery.state == DeliveryState.queued,
                    Delivery.id > after,
                    or_(Delivery.dispatched_at.is_(None), Delivery.dispatched_at <= cutoff),
                )
                .order_by(Delivery.id)
                .limit(batch_size)
            )
        )
        if not batch:
            return
        after = batch[-1][0]
        ids = [i for i, _ in batch]
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(ids), Delivery.state == DeliveryState.queued)
            .values(dispatched_at=now)
            .execution_options(synchronize_session=False)
        )
        session.commit()
        by_digest: dict[int, list[int]] = {}
        for i, digest_id in batch:
            by_digest.setdefault(digest_id, []).append(i)
        yield from by_digest.items()


def next_due(session: Session, digest_id: int) -> datetime | None:
    """When the earliest deferred row of the digest falls due (None: nothing queued)."""
    return session.scalar(
        select(func.min(Delivery.dispatched_at)).where(
            Delivery.digest_id == digest_id, Delivery.state == DeliveryState.queued
        )
    )


def counts(session: Session, digest_id: int) -> dict[str, int]:
    rows = session.execute(
        select(Delivery.state, func.count())
        .where(Delivery.digest_id == digest_id)
        .group_by(Delivery.state)
    )
    return {DeliveryState(state).value: int(n) for state, n in rows}


def finish_if_drained(session: Session, digest_id: int) -> bool:
    """Mark the digest sent once its fan-out is complete and nothing is queued or sending."""
    digest = session.get(Digest, digest_id)
    if digest is None or digest.state == DigestState.built:
        return False
    if digest.state == DigestState.sent:
        return True
    in_flight = session.scalar(
        select(func.count()).where(Delivery.digest_id == digest_id, Delivery.state.in_(IN_FLIGHT))
    )
    if in_flight:
        return False
    session.execute(
        update(Digest)
        .where(Digest.id == digest_id, Digest.state == DigestState.sending)
        .values(state=DigestState.sent, sent_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return True
