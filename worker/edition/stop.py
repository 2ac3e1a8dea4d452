"""Pause and cancel: the actions that stop an edition's send. Batches feel the new state
within about a second (they check it between messages, worker/delivery/sender.py) and give
their claimed rows back; these functions can wait until no row is on the wire.

Below the delivery stage: its sender pauses an edition through here (auto-pause), so nothing
here imports it."""

from __future__ import annotations

import time

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from worker import db
from worker.edition.core import Action, State
from worker.edition.lookup import EditionKey
from worker.edition.record import TransitionOutcome, lock_for, move, operator
from worker.models import Delivery, DeliveryState
from worker.settings import Settings


def pause(
    settings: Settings, key: EditionKey, *, by: str | None = None, reason: str = "",
    wait_seconds: float = 0.0,
) -> TransitionOutcome:  # fmt: skip
    """Stop claiming: batches stop within about a second, after the message on the wire, and
    give their claimed rows back. `wait_seconds`: wait until no row is being sent."""
    who = operator(by)
    with db.session_scope(settings) as session:
        digest = lock_for(session, settings, key, Action.pause)
        if isinstance(digest, TransitionOutcome):
            return digest
        text = f"paused by {who}" + (f": {reason}" if reason else "")
        outcome = move(session, digest, Action.pause, State.paused, who, reason, None, text)
    if wait_seconds > 0:
        outcome.detail["in_flight"] = wait_quiet(settings, outcome.digest_id or 0, wait_seconds)
    return outcome


def cancel(
    settings: Settings, key: EditionKey, *, by: str | None = None, reason: str = "",
    wait_seconds: float = 0.0,
) -> TransitionOutcome:  # fmt: skip
    """Stop for good: rows not sent become `cancelled`, what was sent stays sent."""
    who = operator(by)
    with db.session_scope(settings) as session:
        digest = lock_for(session, settings, key, Action.cancel)
        if isinstance(digest, TransitionOutcome):
            return digest
        text = f"cancelled by {who}" + (f": {reason}" if reason else "")
        outcome = move(session, digest, Action.cancel, State.cancelled, who, reason, None, text)
        outcome.detail["cancelled_rows"] = sweep_cancelled(session, digest.id)
    if wait_seconds > 0 and outcome.digest_id is not None:
        outcome.detail["in_flight"] = wait_quiet(settings, outcome.digest_id, wait_seconds)
        with db.session_scope(settings) as session:  # rows given back while it stopped
            outcome.detail["cancelled_rows"] += sweep_cancelled(session, outcome.digest_id)
    return outcome


def sweep_cancelled(session: Session, digest_id: int) -> int:
    result = session.execute(
        update(Delivery)
        .where(Delivery.digest_id == digest_id, Delivery.state == DeliveryState.queued)
        .values(state=DeliveryState.cancelled, last_error="edition cancelled")
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def sending_now(session: Session, digest_id: int) -> int:
    """Rows claimed by a batch right now (on the wire, or claimed ahead)."""
    return int(
        session.scalar(
            select(func.count()).where(
                Delivery.digest_id == digest_id, Delivery.state == DeliveryState.sending
            )
        )
        or 0
    )


def wait_quiet(settings: Settings, digest_id: int, seconds: float) -> int:
    """Wait until no row of the edition is being sent (at most `seconds`); returns how many
    still are (a message whose outcome is unknown keeps its row until its lease ends)."""
    deadline = time.monotonic() + seconds
    while True:
        with db.session_scope(settings) as session:
            busy = sending_now(session, digest_id)
        if busy == 0 or time.monotonic() >= deadline:
            return busy
        time.sleep(0.1)
