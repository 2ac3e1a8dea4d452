"""Driving an edition's send: the fan-out (here when embedded, else a worker's task), resume,
ops resends, finishing a drained edition, and the reconciler's repair of all of them.

The only module that reaches the fan-out (_fanout.py, tests/edition/test_one_road.py); above
the delivery stage, which never imports it back.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select

from worker import db
from worker.delivery import autopause
from worker.delivery.dispatch import queue_fan_out
from worker.delivery.recovery import counts, repair_rows
from worker.delivery.resend import requeue
from worker.edition import _fanout, core
from worker.edition.core import Action, State
from worker.edition.lookup import EditionKey, lock
from worker.edition.record import TransitionOutcome, lock_for, move, operator, scoped_key, state_of
from worker.edition.stop import sweep_cancelled
from worker.models import Delivery, DeliveryState, Digest, utcnow
from worker.settings import Settings

log = logging.getLogger(__name__)


def launch_fan_out(settings: Settings, digest_id: int) -> dict[str, Any]:
    """The fan-out of an edition now `sending`: here when embedded, else a worker's task."""
    if settings.embedded:
        return fan_out(settings, digest_id)
    queue_fan_out(digest_id)
    return {"fan_out": "dispatched"}


def fan_out(settings: Settings, digest_id: int) -> dict[str, Any]:
    """The `digest.fan_out` task: create and dispatch the rows of an edition in `sending`
    (nothing for any other state), then finish it if nothing is left in flight."""
    with db.session_scope(settings) as session:
        done = _fanout.fan_out(session, settings, digest_id)
    finish_if_drained(settings, digest_id)
    return done


def resume(
    settings: Settings, key: EditionKey, *, by: str | None = None, reason: str = ""
) -> TransitionOutcome:
    """Send on exactly where it stopped: the queued rows are dispatched again (a fan-out that
    was cut short is completed first); what was sent stays sent."""
    who = operator(by)
    with db.session_scope(settings) as session:
        digest = lock_for(session, settings, key, Action.resume)
        if isinstance(digest, TransitionOutcome):
            return digest
        outcome = move(session, digest, Action.resume, State.sending, who, reason)
        digest.send_claimed_at = utcnow()
        fanned_out = digest.fanned_out_at is not None
        digest_id = digest.id
    autopause.window(settings).reset(digest_id)  # judge the resumed send on its own attempts
    if not fanned_out:
        outcome.detail.update(launch_fan_out(settings, digest_id))
        return outcome
    with db.session_scope(settings) as session:
        outcome.detail["dispatched"] = _fanout.dispatch_queued(session, settings, digest_id)
    finish_if_drained(settings, digest_id)
    return outcome


def finish_if_drained(settings: Settings, digest_id: int) -> bool:
    """`sending` -> `sent` once every row exists and none is queued or sending. The rows are
    counted under the edition's lock: a resend that requeues rows between an unlocked count
    and the move would leave a `sent` edition with queued rows that no worker sends."""
    with db.session_scope(settings) as session:
        # columns, not the entity: the locked read below must not find a stale one in the
        # session's identity map
        seen = session.execute(
            select(Digest.state, Digest.fanned_out_at).where(Digest.id == digest_id)
        ).first()
        if seen is None or seen.state != State.sending or seen.fanned_out_at is None:
            return seen is not None and seen.state == State.sent
        digest = lock(session, digest_id)
        if digest is None or digest.state != State.sending:
            return False
        in_flight = session.scalar(
            select(func.count()).where(
                Delivery.digest_id == digest_id,
                Delivery.state.in_((DeliveryState.queued, DeliveryState.sending)),
            )
        )
        if in_flight:
            return False
        digest.sent_at = utcnow()
        move(session, digest, Action.finish, State.sent, "delivery")
        return True


# ---------------------------------------------------------------- resend
def resend(
    settings: Settings,
    day: date,
    *,
    to: str | None = None,
    failed: bool = False,
    everyone: bool = False,
    dry_run: bool = False,
    requested_by: str | None = None,
    reason: str = "",
) -> dict[str, Any]:
    """Ops resend (to one address, to the failed rows, or to everybody) of a sent or sending
    edition: the rows are requeued and recorded, a sent edition goes back to `sending`.
    Refusals come back as {"refused": reason}."""
    modes = [m for m, on in (("to", to is not None), ("failed", failed), ("all", everyone)) if on]
    if len(modes) != 1:
        raise ValueError("choose exactly one of to=EMAIL, failed=True, everyone=True")
    who = operator(requested_by)
    with db.session_scope(settings) as session:
        digest = lock(session, scoped_key(settings, day))
        if digest is None:
            return {"refused": f"no digest for {day.isoformat()}", "mode": modes[0]}
        why = core.refusal(Action.resend, state_of(digest), digest.skip_reason)
        if why:
            return {"digest_id": digest.id, "mode": modes[0], "refused": f"the edition is {why}"}
        result = requeue(
            session, settings, digest, mode=modes[0], to=to, dry_run=dry_run, who=who,
            reason=reason,
        )  # fmt: skip
        if "refused" in result or dry_run or not result.get("queued"):
            return result
        detail = {"resend_id": result["resend_id"], "mode": modes[0], "queued": result["queued"]}
        move(session, digest, Action.resend, State.sending, who, reason, detail)
        digest_id = digest.id
    with db.session_scope(settings) as session:
        _fanout.dispatch_queued(session, settings, digest_id)
    if settings.embedded:
        finish_if_drained(settings, digest_id)
        with db.session_scope(settings) as session:
            result["counts"] = counts(session, digest_id)
    return result


# ---------------------------------------------------------------- reconcile
def reconcile(settings: Settings) -> dict[str, int]:
    """The periodic repair (beat, every minute; wait_for_drain now and then): row leases and
    lost batches of `sending` editions, fan-outs that died, editions to finish, and rows of
    cancelled editions given back late. Never touches a paused edition's rows."""
    stats = repair_rows(settings)
    stale = utcnow() - timedelta(seconds=settings.send_lease_seconds)
    with db.session_scope(settings) as session:
        sending = session.execute(
            select(Digest.id, Digest.fanned_out_at, Digest.send_claimed_at).where(
                Digest.state == State.sending
            )
        ).all()
        cancelled = list(session.scalars(select(Digest.id).where(Digest.state == State.cancelled)))
        for digest_id in cancelled:
            stats["rows_cancelled"] = stats.get("rows_cancelled", 0) + sweep_cancelled(
                session, digest_id
            )
    for digest_id, fanned_out_at, claimed_at in sending:
        if fanned_out_at is None and (claimed_at is None or claimed_at < stale):
            try:
                launch_fan_out(settings, digest_id)
            except Exception as exc:  # broker down: the next pass tries again
                log.warning("reconcile: cannot resume the fan-out of %s: %s", digest_id, exc)
                stats["dispatch_errors"] = stats.get("dispatch_errors", 0) + 1
                continue
            stats["fan_outs_resumed"] = stats.get("fan_outs_resumed", 0) + 1
        elif fanned_out_at is not None:
            finished = finish_if_drained(settings, digest_id)
            stats["digests_finished"] = stats.get("digests_finished", 0) + int(finished)
    return stats
