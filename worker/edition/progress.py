"""An edition's send progress, from the lifecycle's own numbers, and waiting for it to end.

The total is `Digest.ledger_rows`, which the fan-out commits together with the rows it
creates; what is left is the count of queued and sending rows. Both come from one statement,
so one snapshot: `done = total - left` can never go below zero (the old recount subtracted
rows the fan-out had not finished inserting and printed `-3080/16000`), and it is shown never
going backwards within one wait.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker import db
from worker.delivery import counters
from worker.delivery.ledger import IN_FLIGHT
from worker.delivery.recovery import counts, next_due
from worker.edition.sending import finish_if_drained, reconcile
from worker.models import Digest, DigestState, utcnow
from worker.settings import Settings

Progress = Callable[[int, int, str], None]
STOPPED = (DigestState.paused, DigestState.cancelled)


@dataclass(frozen=True)
class Snapshot:
    state: DigestState | None
    total: int
    left: int
    fanned_out: bool
    reason: str | None

    @property
    def done(self) -> int:
        return max(0, self.total - self.left)


def snapshot(session: Session, digest_id: int) -> Snapshot:
    left = counters.in_count_subquery(digest_id, IN_FLIGHT)
    row = session.execute(
        select(
            Digest.state, Digest.ledger_rows, left, Digest.fanned_out_at, Digest.skip_reason
        ).where(Digest.id == digest_id)
    ).first()
    if row is None:
        return Snapshot(None, 0, 0, True, None)
    state, total, in_flight, fanned_out_at, reason = row
    return Snapshot(
        DigestState(state), int(total), int(in_flight), fanned_out_at is not None, reason
    )


def wait_for_drain(
    settings: Settings,
    digest_id: int,
    progress: Progress | None = None,
    timeout: float | None = 3600.0,
    poll_seconds: float = 0.5,
    reconcile_every: float = 5.0,
) -> dict[str, Any]:
    """Block until the edition's send ends (nothing queued or sending once fanned out) or it
    is paused or cancelled; report progress with rate and ETA.

    Also runs the reconciler now and then, so a send whose worker died still completes while
    someone waits for it (the beat schedule runs `digest.reconcile` for unattended sends).
    """
    started = time.monotonic()
    last_reconcile = 0.0 if not settings.embedded else -reconcile_every
    first_done: int | None = None
    shown = 0
    while True:
        now = time.monotonic()
        if settings.embedded or now - last_reconcile >= reconcile_every:
            reconcile(settings)
            last_reconcile = now
        with db.session_scope(settings) as session:
            snap = snapshot(session, digest_id)
            finished = snap.state in (None, DigestState.sent) or (
                snap.state == DigestState.sending and snap.fanned_out and snap.left == 0
            )
            stopped = snap.state in STOPPED
            due = next_due(session, digest_id) if settings.embedded else None
            final = counts(session, digest_id) if finished or stopped else None
        if finished and snap.state == DigestState.sending:
            finish_if_drained(settings, digest_id)  # the state says so at once, not next minute
        elapsed = time.monotonic() - started
        shown = max(shown, min(snap.done, snap.total))
        first_done = shown if first_done is None else first_done
        rate = (shown - first_done) / elapsed if elapsed > 0 else 0.0
        if progress is not None:
            left = snap.total - shown
            eta = f", ETA {left / rate:.0f} s" if rate > 0 and left else ""
            progress(shown, snap.total, f"{rate:.0f} msg/s{eta}")
        timed_out = timeout is not None and elapsed > timeout
        if final is not None:
            return {
                "digest_id": digest_id,
                "drained": finished,
                "state": str(snap.state) if snap.state else None,
                "reason": snap.reason if stopped else None,
                "counts": final,
                "seconds": round(elapsed, 3),
                "rate": round(rate, 1),
            }
        if timed_out:
            with db.session_scope(settings) as session:
                tally = counts(session, digest_id)
            return {"digest_id": digest_id, "drained": False, "counts": tally, "seconds": elapsed}
        pause = poll_seconds
        if settings.embedded and due is not None:
            pause = max(0.05, min(5.0, (due - utcnow()).total_seconds()))
        time.sleep(pause)
