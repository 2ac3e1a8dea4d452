"""Sending a batch of an edition the lifecycle (worker/edition/) put in `sending`.

`send_batch` is what the `digest.send_batch` task (worker/delivery/tasks.py) runs. A batch
claims its rows a chunk at a time (the next chunk ahead, on PostgreSQL: batch.py), builds each
message by filling the recipient's fields into the digest's prebuilt bytes (the template is
built once per digest per process), sends it over the process's one reused connection, and
records the outcome right away (one message in flight per process: a crash can duplicate at
most that one). About once a second between messages the batch looks at the edition's state
(one query) and feeds the auto-pause window: a paused or cancelled edition stops the batch
after the message on the wire, and its claimed rows go back (or are cancelled) at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Any

from sqlalchemy import Connection, select

from worker import db, newsletters
from worker.delivery import autopause, dispatch, ledger, outcomes, spread
from worker.delivery.batch import Ahead, Claims, Lease, chunks
from worker.delivery.compose import Composer, prepared
from worker.delivery.outbound import get_transport
from worker.delivery.throttle import RateLimiter, rate_limiter
from worker.delivery.transport import SendResult, Transport
from worker.digest.message import MessageTemplate, Recipient, build_message_template
from worker.edition.stop import pause
from worker.models import Digest, DigestState, utcnow
from worker.settings import Settings
from worker.tokens import unsubscribe_url

__all__ = ["dispatch_batch", "send_batch"]

log = logging.getLogger(__name__)
MAX_BACKOFF_SECONDS = 900.0


# ---------------------------------------------------------------- message template, per process
_templates: OrderedDict[tuple[str, int], MessageTemplate] = OrderedDict()
_templates_lock = threading.Lock()
_limiters: dict[tuple[str | None, float], RateLimiter] = {}


def message_template(settings: Settings, digest_id: int) -> MessageTemplate:
    """The digest's prebuilt message, built once per process (not per batch)."""
    key = (settings.database_url, digest_id)
    with _templates_lock:
        cached = _templates.get(key)
        if cached is not None:
            _templates.move_to_end(key)
            return cached
    from worker.storage import get_storage

    with db.session_scope(settings) as session:
        template: MessageTemplate = build_message_template(
            session, settings, get_storage(settings), digest_id
        )
    with _templates_lock:
        _templates[key] = template
        while len(_templates) > 4:
            _templates.popitem(last=False)
    return template


def _limiter(settings: Settings) -> RateLimiter:
    key = (settings.broker_url, settings.send_rate_per_second)
    limiter = _limiters.get(key)
    if limiter is None:
        limiter = _limiters[key] = rate_limiter(settings)
    return limiter


def backoff_seconds(settings: Settings, attempts: int) -> float:
    return float(
        min(MAX_BACKOFF_SECONDS, settings.send_retry_base_seconds * 2 ** max(0, attempts - 1))
    )


# ---------------------------------------------------------------- dispatch
def dispatch_batch(
    settings: Settings, digest_id: int, ids: list[int], countdown: float | None = None
) -> None:
    """Queue a `digest.send_batch` task; in-process (no broker) the batch runs right here,
    with these settings (what the eager task would do, minus the global settings lookup)."""
    if settings.embedded:
        send_batch(settings, digest_id, ids)
    else:
        dispatch.queue_batch(digest_id, ids, countdown)


# ---------------------------------------------------------------- one batch
def _recipient(settings: Settings, row: ledger.Row) -> Any:
    return Recipient(
        subscriber_id=row.subscriber_id,
        email=row.email,
        name=row.name,
        message_id=row.message_id,
        unsubscribe_url=unsubscribe_url(settings, row.subscriber_id, row.token_nonce),
        audio_links=row.audio_links,
    )


def send_batch(
    settings: Settings,
    digest_id: int,
    delivery_ids: list[int],
    *,
    template: MessageTemplate | None = None,
    transport: Transport | None = None,
    make_recipient: Callable[[Settings, ledger.Row], Any] = _recipient,
) -> dict[str, Any]:
    """Send the rows of `delivery_ids` that this caller manages to claim; record each outcome."""
    settings = newsletters.for_edition(settings, digest_id)  # its From, List-Id, unsubscribe
    template = template if template is not None else message_template(settings, digest_id)
    transport = transport if transport is not None else get_transport(settings)
    limiter = _limiter(settings)
    senders = ledger.Senders(settings)  # MAIL FROM per row (VERP)
    composer = Composer(template)
    stats: Counter[str] = Counter()
    retries: dict[float, list[int]] = {}
    leave = False  # the relay is down, or the edition stopped
    guard = EditionGuard(settings, digest_id)
    with db.get_engine(settings.database_url).connect() as conn:
        day = conn.scalar(select(Digest.date).where(Digest.id == digest_id))
        recorder = outcomes.SentRecorder(conn, settings.send_async_commit, day)
        claims = Claims(settings, digest_id, delivery_ids)
        pace = spread.pacer(settings, conn, digest_id)  # SEND_SPREAD_MINUTES
        try:
            while not leave and (taken := claims.take(conn)) is not None:
                chunk, owned, rows = taken
                stats["not_claimed"] += len(chunk) - len(owned)
                if chunk and not owned and guard.stopped(conn, now=True):
                    stats["stopped"] += claims.stop(conn, guard.settle)
                    break
                ready = Ahead(prepared(conn, settings, rows, composer, make_recipient, stats))
                lease = Lease(conn, [r.delivery_id for r in rows], settings.send_lease_seconds)
                stopped = partial(guard.stopped, conn)

                while (current := ready.pop()) is not None:
                    row, data, clean = current
                    if stopped() or not pace.wait(stopped, lease.keep):
                        # paused or cancelled: this row and the rest of the chunk go back
                        rest = [row.delivery_id] + [r.delivery_id for r, _, _ in ready.rest()]
                        guard.settle(conn, rest)
                        stats["stopped"] += len(rest) + claims.stop(conn, guard.settle)
                        leave = True  # the outer loop too
                        break
                    lease.keep()  # this row included
                    lease.sending(row.delivery_id)
                    # the next message first (usually built already), so its envelope can ride
                    # with this body
                    following = ready.fill(1)
                    lookahead = None
                    if following is not None:
                        nxt, nxt_data, nxt_clean = following  # clean implies 7-bit
                        ascii_body = nxt_clean or nxt_data.isascii()
                        n_sender = senders.of(nxt.message_id)
                        lookahead = (n_sender, nxt.email, len(nxt_data), ascii_body)
                    limiter.acquire()
                    try:
                        result = transport.send(
                            senders.of(row.message_id),
                            row.email,
                            data,
                            lookahead,
                            clean=clean,
                            while_waiting=ready.while_waiting,
                        )
                    except Exception as exc:
                        log.exception("transport error for delivery %s", row.delivery_id)
                        transport.close()
                        result = SendResult("transient", None, f"transport: {exc!r}", "connect")
                    if result.outcome == "sent":
                        recorder.sent(row.delivery_id, result.code or 250)
                        stats["sent"] += 1
                        guard.ok += 1
                        continue
                    guard.bad += 1
                    _record(conn, settings, row, result, stats, retries)
                    if result.stage == "connect" and result.outcome == "transient":
                        # the relay is unreachable: give the rest back, retry the lot later
                        rest = [r.delivery_id for r, _, _ in ready.rest()]
                        delay = backoff_seconds(settings, row.attempts)
                        due = utcnow() + timedelta(seconds=delay)
                        outcomes.release(conn, rest, due)
                        released, postponed = claims.give_back(conn, due)
                        retries.setdefault(delay, []).extend(rest + released + postponed)
                        stats["released"] += len(rest) + len(released)
                        leave = True
                        break
        finally:
            try:
                claims.close(conn)
            finally:
                recorder.close()
        guard.flush()
    for delay, ids in sorted(retries.items()):
        _schedule_retry(settings, digest_id, ids, delay)
    return {"digest_id": digest_id, **stats}


class EditionGuard:
    """What a batch checks about once a second between messages (never per message): the
    edition's state, and the auto-pause window fed with this batch's attempts since."""

    EVERY_SECONDS = 1.0

    def __init__(self, settings: Settings, digest_id: int) -> None:
        self.settings = settings
        self.digest_id = digest_id
        self.window = autopause.window(settings) if settings.auto_pause_error_rate > 0 else None
        self.checked = time.monotonic()
        self.state: DigestState = DigestState.sending
        self.ok = self.bad = 0

    def stopped(self, conn: Connection, now: bool = False) -> bool:
        """True once the edition is no longer `sending` (checked at most once a second)."""
        if not now and time.monotonic() - self.checked < self.EVERY_SECONDS:
            return False
        self.checked = time.monotonic()
        self._judge()
        state = conn.execute(
            select(Digest.__table__.c.state).where(Digest.__table__.c.id == self.digest_id)
        ).scalar()
        conn.commit()
        self.state = DigestState(state) if state is not None else DigestState.cancelled
        return self.state != DigestState.sending

    def settle(self, conn: Connection, ids: list[int]) -> None:
        """Claimed rows not attempted: cancelled with the edition, else back to the queue."""
        if self.state == DigestState.cancelled:
            outcomes.cancel_claimed(conn, ids)
        else:
            outcomes.release(conn, ids, utcnow())

    def _judge(self) -> None:
        if self.window is None:
            return
        ok, bad = self.window.add(self.digest_id, self.ok, self.bad)
        self.ok = self.bad = 0
        verdict = autopause.judge(
            ok, bad, self.settings.auto_pause_window, self.settings.auto_pause_error_rate
        )
        if verdict.trip:
            paused = pause(self.settings, self.digest_id, by="auto-pause", reason=verdict.reason)
            if paused.ok:
                log.error("edition %s paused: %s", self.digest_id, verdict.reason)

    def flush(self) -> None:
        """At the end of the batch: its last attempts count for the next batch's judgement."""
        if self.window is not None and self.ok + self.bad:
            self._judge()


def _record(
    conn: Any,
    settings: Settings,
    row: ledger.Row,
    result: SendResult,
    stats: Counter[str],
    retries: dict[float, list[int]],
) -> None:
    if result.outcome == "permanent":
        suppress = row.email if result.suppress else None
        outcomes.mark_failed(conn, row.delivery_id, result.code, result.reply, suppress)
        stats["failed"] += 1
    elif result.outcome == "unknown":
        outcomes.mark_unknown(conn, row.delivery_id, result.reply)
        stats["unknown"] += 1
    else:
        final = row.attempts >= settings.send_max_attempts
        delay = backoff_seconds(settings, row.attempts)
        retry_at = utcnow() + timedelta(seconds=delay)
        outcomes.mark_deferred(conn, row.delivery_id, result.code, result.reply, retry_at, final)
        if final:
            stats["failed"] += 1
        else:
            stats["deferred"] += 1
            retries.setdefault(delay, []).append(row.delivery_id)


def _schedule_retry(settings: Settings, digest_id: int, ids: list[int], delay: float) -> None:
    """With a broker, a countdown task (always far shorter than the visibility timeout);
    in-process, the rows wait queued with their due time and wait_for_drain sends them."""
    if not ids or settings.embedded:
        return
    for chunk in chunks(ids, settings.send_batch_size):
        dispatch_batch(settings, digest_id, chunk, countdown=delay)
