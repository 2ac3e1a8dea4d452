"""Recording what happened to a claimed ledger row, each outcome committed on its own.

sent (right after the relay's 250; `SentRecorder` on the hot path), skipped (unsubscribed or
suppressed since the fan-out), failed (5xx, out of attempts; 5xx to RCPT adds the address to
the suppression list), deferred (4xx, dropped connection: queued again with a due time),
unknown (connection lost after the data: left `sending` for the lease to decide).
"""

from __future__ import annotations

import select
import time
import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, update

from worker.delivery.ledger import DELIVERIES, EVENTS, _insert, update_rows
from worker.models import DeliveryState, Suppression, utcnow
from worker.outage import DatabaseUnavailable


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

    On PostgreSQL the UPDATE goes out on its own autocommit connection in libpq pipeline mode:
    each mark is a prepared statement plus a sync point, flushed into the socket before this
    returns, and its result is read whenever it has arrived (waiting for it would hold the
    next message back). The statement has left this process before the next message is sent:
    a worker killed after that still has it applied (the server reads what is in its socket),
    so a kill can still duplicate only the one message whose 250 had not been recorded. With
    `async_commit`, `synchronous_commit=off` for this connection: a PostgreSQL crash (not a
    worker crash) could forget the last fraction of a second of marks, whose rows then come
    back through their lease (re-sent). SQLite: mark_sent. A failed mark raises (from a later
    call, at the latest from close()).

    Every wait is bounded: a connection that breaks (PostgreSQL restarted or failed over, the
    backend terminated) or stays silent for MARK_TIMEOUT_SECONDS raises DatabaseUnavailable,
    and the batch ends; its rows whose marks were not confirmed stay `sending` and come back
    through their lease. The duplicate bound this gives: the messages the relay accepted whose
    marks were still unconfirmed, at most MAX_PENDING per worker per lost connection (in
    practice the few sent in the last milliseconds: marks the server applied before it went
    down are kept), plus the one message whose mark could no longer be sent.
    """

    _PG_SQL = (
        # now(): the server's clock, so no timestamp is formatted per message (each mark is
        # its own transaction, so now() is the moment it is applied)
        b"UPDATE deliveries SET state = 'sent', sent_at = now(), smtp_code = $1::int,"
        b" lease_until = NULL WHERE id = $2::int AND state = 'sending'"
    )
    # results are read a few dozen at a time (per mark costs CPU per message); past
    # MAX_PENDING sent() waits for them
    COLLECT_EVERY = 32
    MAX_PENDING = 64  # also the duplicate bound when the connection is lost (see above)
    MARK_TIMEOUT_SECONDS = 15.0

    def __init__(
        self, conn: Connection, async_commit: bool, edition_date: date | None = None
    ) -> None:
        self.fallback = conn
        self.fast: Connection | None = None
        self.pgconn: Any = None
        self.pending = 0  # sync points sent whose results are not read yet
        self.failure: Exception | None = None  # a failed mark, raised by the next sent/close
        self.broken = False  # the connection is gone (DatabaseUnavailable was raised)
        # unique per recorder: a pooled connection may still hold an earlier one's statement
        self.name = f"digestcast_mark_sent_{uuid.uuid4().hex[:12]}".encode()
        if conn.dialect.name == "postgresql":
            self.fast = conn.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            if async_commit:
                self.fast.exec_driver_sql("SET synchronous_commit TO off")
            raw: Any = self.fast.connection.driver_connection
            self.pgconn = raw.pgconn
            sql = self._PG_SQL
            if edition_date is not None:
                # the row's month, so PostgreSQL plans this mark on one partition of the
                # ledger instead of probing every month's index for the id (a literal made
                # from a date: pruned at plan time, the plan being generic)
                sql += f" AND edition_date = '{edition_date.isoformat()}'::date".encode()
            self._check(self.pgconn.prepare(self.name, sql))
            self.pgconn.enter_pipeline_mode()

    @staticmethod
    def _check(result: Any) -> None:
        from psycopg import pq

        if result.status not in (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK):
            raise RuntimeError(f"recording a sent message failed: {result.error_message!r}")

    def collect(self, block: bool = False) -> None:
        """Read the results that have arrived (all outstanding ones when `block`, for at most
        MARK_TIMEOUT_SECONDS); never raises for a failed mark (it may run while a message is
        on the wire): sent/close raise it. Raises DatabaseUnavailable when the connection is
        broken or silent past the deadline."""
        import psycopg
        from psycopg import pq

        deadline = time.monotonic() + self.MARK_TIMEOUT_SECONDS
        ended = 0  # end-of-statement results in a row: two mean nothing more will come
        while self.pending:
            if self.pgconn.status != pq.ConnStatus.OK:
                raise self._broken("connection lost")
            try:
                self.pgconn.consume_input()
            except psycopg.OperationalError as exc:
                raise self._broken(str(exc)) from exc
            if self.pgconn.is_busy():
                if not block:
                    return
                left = deadline - time.monotonic()
                if left <= 0:
                    raise self._broken(f"no reply for {self.MARK_TIMEOUT_SECONDS:g} s")
                select.select([self.pgconn.socket], [], [], min(left, 1.0))
                continue
            result = self.pgconn.get_result()
            if result is None:  # the end of one statement's results
                ended += 1
                if ended > 1:  # libpq's answer for ever once the connection is gone
                    raise self._broken("no more results")
                continue
            ended = 0
            if result.status == pq.ExecStatus.PIPELINE_SYNC:
                self.pending -= 1
                continue
            try:
                self._check(result)
            except RuntimeError as exc:
                state = (result.error_field(pq.DiagnosticField.SQLSTATE) or b"").decode()
                if state.startswith(("08", "57P")) or self.pgconn.status != pq.ConnStatus.OK:
                    # the server is going away (shutdown, terminated backend), not a bad mark
                    raise self._broken(str(exc)) from exc
                self.failure = self.failure or exc

    def _broken(self, why: str) -> DatabaseUnavailable:
        lost, self.pending = self.pending, 0
        self.broken = True
        return DatabaseUnavailable(
            f"recording sent messages: {why}; {lost} marks unconfirmed (left to their lease)"
        )

    def _raise_failure(self) -> None:
        if self.failure is not None:
            raise self.failure

    def sent(self, delivery_id: int, code: int) -> None:
        if self.pgconn is None:
            mark_sent(self.fallback, delivery_id, code)
            return
        if self.broken:
            raise DatabaseUnavailable("recording sent messages: the connection was lost")
        if self.pending >= self.COLLECT_EVERY:
            self.collect(block=self.pending >= self.MAX_PENDING)
        self._raise_failure()
        import psycopg

        try:
            self.pgconn.send_query_prepared(self.name, [b"%d" % code, b"%d" % delivery_id])
            # blocking connection: flushed into the socket on return (a peer that stops
            # reading is bounded by the engine's tcp_user_timeout, worker/db.py)
            self.pgconn.pipeline_sync()
        except psycopg.OperationalError as exc:
            raise self._broken(str(exc)) from exc
        self.pending += 1

    def close(self) -> None:
        if self.fast is None:
            return
        fast, self.fast = self.fast, None  # closed once, whatever happens
        if self.broken:  # already raised: the connection is only thrown away
            fast.invalidate()
            fast.close()
            return
        try:
            self.collect(block=True)
            self.pgconn.exit_pipeline_mode()
            self.pgconn.exec_(b"DEALLOCATE " + self.name)
            fast.exec_driver_sql("RESET synchronous_commit")
        except BaseException:
            fast.invalidate()  # never back into the pool in pipeline mode (or broken)
            raise
        finally:
            fast.close()
        self._raise_failure()


def mark_skipped(conn: Connection, delivery_id: int, reason: str) -> None:
    _set(conn, delivery_id, state=DeliveryState.suppressed, last_error=reason, lease_until=None)
    _event(conn, delivery_id, "skipped", reason)
    conn.commit()


def _set_failed(
    conn: Connection, delivery_id: int, code: int | None, reply: str, event: str
) -> None:
    _set(
        conn,
        delivery_id,
        state=DeliveryState.failed,
        smtp_code=code,
        last_error=reply,
        lease_until=None,
    )
    _event(conn, delivery_id, "failed", event)


def mark_failed(
    conn: Connection, delivery_id: int, code: int | None, reply: str, suppress_email: str | None
) -> None:
    _set_failed(conn, delivery_id, code, reply, f"{code} {reply}")
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
        _set_failed(conn, delivery_id, code, reply, f"out of attempts; last reply {code} {reply}")
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
    d = DELIVERIES.c
    update_rows(
        conn,
        ids,
        DeliveryState.sending,
        state=DeliveryState.queued,
        lease_until=None,
        attempts=d.attempts - 1,
        dispatched_at=due,
    )


def postpone(conn: Connection, ids: Sequence[int], due: datetime) -> None:
    """Queued rows not to be picked up again before `due` (the relay is down)."""
    update_rows(conn, ids, DeliveryState.queued, dispatched_at=due)


def cancel_claimed(conn: Connection, ids: Sequence[int]) -> None:
    """Claimed rows of a cancelled edition that were never attempted: they never go out."""
    d = DELIVERIES.c
    update_rows(
        conn,
        ids,
        DeliveryState.sending,
        state=DeliveryState.cancelled,
        lease_until=None,
        attempts=d.attempts - 1,
        last_error="edition cancelled",
    )
