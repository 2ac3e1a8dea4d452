"""The edition lifecycle's edge: every road that builds, starts, pauses, resumes, cancels,
approves, skips, misses or resends an edition calls a function here.

Each function takes the edition's row lock (lookup.lock), asks core.py whether the action is
allowed, changes the state and writes an audit row (record.py) in one transaction, and only
then does its I/O (the fan-out, dispatching batches, the editors' mail). A refusal changes
nothing and comes back as a TransitionOutcome with a one-line reason. This module holds
building, approval, the start and catch-up; stop.py pauses and cancels, sending.py drives the
fan-out, resumes, resends and reconciles (both re-exported here, the one edge callers import).
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from worker import db, newsletters
from worker.delivery.transactional import send_soon
from worker.edition import core
from worker.edition.core import Action, State
from worker.edition.lookup import find, lock
from worker.edition.record import (
    Builder,
    TransitionOutcome,
    counts_of,
    history,
    lock_for,
    move,
    operator,
    refuse,
    scoped_key,
    state_of,
)
from worker.edition.sending import (
    fan_out,
    finish_if_drained,
    launch_fan_out,
    reconcile,
    resend,
    resume,
)
from worker.edition.stop import cancel, pause, sending_now, wait_quiet
from worker.models import Digest, EditionEvent, utcnow
from worker.settings import Settings
from worker.storage import get_storage

__all__ = [
    "Builder",
    "TransitionOutcome",
    "apply_deadline",
    "approve",
    "build",
    "cancel",
    "catch_up",
    "edit",
    "fan_out",
    "finish_if_drained",
    "history",
    "miss",
    "operator",
    "pause",
    "reconcile",
    "resend",
    "resume",
    "sending_now",
    "start",
    "wait_quiet",
]
log = logging.getLogger(__name__)


def _rebuild(session: Session, settings: Settings, digest: Digest, builder: Builder | None) -> None:
    state = state_of(digest)
    claimed = digest.send_claimed_at is not None
    approved = digest.approved_at is not None
    never_built = digest.window_end is None  # e.g. a day catch-up recorded missed
    if builder is not None and (
        never_built or core.may_rebuild(state, digest.skip_reason, claimed, approved)
    ):
        builder(session, settings, get_storage(settings), digest.date)
        session.flush()


# ---------------------------------------------------------------- build, hold, approve
def build(
    settings: Settings, day: date, *, builder: Builder, by: str | None = None
) -> TransitionOutcome:
    """Build (or rebuild, to include late items) the edition's content before it is sent.
    With SEND_APPROVAL=required a new edition is held and the editors are mailed a preview."""
    who = operator(by)
    mail = False
    with db.session_scope(settings) as session:
        digest = lock(session, scoped_key(settings, day), create=True)
        assert digest is not None
        state = state_of(digest)
        claimed = digest.send_claimed_at is not None
        if state is not None and not core.may_rebuild(
            state, digest.skip_reason, claimed, digest.approved_at is not None
        ):
            why = core.refusal(Action.build, state, digest.skip_reason) or (
                f"it is {core.describe(state)}: its content no longer changes"
            )
            return refuse(Action.build, day, digest, why)
        builder(session, settings, get_storage(settings), day)
        detail = {"stories": digest.article_count, "news_items": digest.feed_item_count}
        detail["picks"] = digest.pick_count
        if state == State.skipped and counts_of(digest).empty:  # still empty: nothing new
            return TransitionOutcome(
                "build", True, day, digest.id, "skipped", "skipped", core.EMPTY_DAY
            )
        if core.needs_approval(settings.send_approval, digest.approved_at is not None):
            mail = state != State.held
            outcome = move(session, digest, Action.hold, State.held, who, "", detail, _HELD, state)
        else:
            outcome = move(session, digest, Action.build, State.built, who, "", detail, None, state)
        digest_id = digest.id
    if mail:
        outcome.detail["editors_mailed"] = _mail_editors(settings, digest_id)
    return outcome


_HELD = "waiting for an editor's approval (SEND_APPROVAL=required)"


def _mail_editors(settings: Settings, digest_id: int) -> int:
    """The held edition's preview link to every editor (on the transactional queue with a
    broker: worker/delivery/transactional.py); a failed mail is logged, not fatal."""
    with db.session_scope(settings) as session:
        digest = find(session, digest_id)
        if digest is None:
            return 0
        day, subject = digest.date, digest.subject
    base = settings.public_base_url.rstrip("/")
    text = (
        f"The {settings.newsletter_name} edition of {day.isoformat()} is built and held for "
        f"approval.\n\nSubject: {subject}\nPreview: {base}/digests/{day.isoformat()}\n\n"
        f"Approve it with `digestcast approve --date {day.isoformat()}` or "
        f"POST {base}/admin/digests/{day.isoformat()}/approve.\n"
        f"Without an approval by SEND_TIME + {settings.approval_grace_minutes} min it is "
        f"{'sent anyway' if settings.approval_deadline_action == 'send' else 'skipped'} "
        f"(APPROVAL_DEADLINE_ACTION={settings.approval_deadline_action}).\n"
    )
    mailed = 0
    for editor in settings.editors:
        try:
            send_soon(settings, editor, f"Approve: {subject} ({day.isoformat()})", text)
            mailed += 1
        except Exception:
            log.exception("could not mail the preview of %s to %s", day, editor)
    if not settings.editors:
        log.warning("edition %s is held but EDITOR_EMAILS is empty: nobody was told", day)
    return mailed


def edit(
    settings: Settings,
    day: date,
    editorial: dict[str, Any],
    *,
    builder: Builder,
    by: str | None = None,
    reason: str = "",
) -> TransitionOutcome:
    """An editor's changes (worker/digest/editorial.py), stored and rebuilt at once, while the
    content may still change: never once the send is claimed or an editor approved it. The
    state stays what it was; the change is recorded as an `edit` event."""
    who = operator(by)
    with db.session_scope(settings) as session:
        digest = lock(session, scoped_key(settings, day))
        state = state_of(digest)
        if digest is None or state is None:
            return refuse(Action.build, day, digest, "not built yet")
        claimed, approved = digest.send_claimed_at is not None, digest.approved_at is not None
        if not core.may_rebuild(state, digest.skip_reason, claimed, approved):
            why = "it was approved" if approved and not claimed else f"it is {core.describe(state)}"
            refused = refuse(Action.build, day, digest, f"{why}: its content no longer changes")
            refused.action = "edit"
            return refused
        digest.editorial = editorial
        builder(session, settings, get_storage(settings), day)
        detail = {"editorial": editorial, "stories": digest.article_count}
        detail["news_items"] = digest.feed_item_count
        session.add(
            EditionEvent(
                digest_id=digest.id,
                action="edit",
                from_state=str(state),
                to_state=str(state),
                by=who,
                reason=reason,
                detail=detail,
            )
        )
        return TransitionOutcome(
            "edit", True, day, digest.id, str(state), str(state), reason, detail
        )


def approve(
    settings: Settings,
    day: date,
    *,
    by: str | None = None,
    reason: str = "",
    now: datetime | None = None,
    builder: Builder | None = None,
) -> TransitionOutcome:
    """An editor approves a held edition; after the send time it goes out at once."""
    now = now or datetime.now(UTC)
    deadline = core.approval_deadline(
        day, settings.send_time, settings.tz, settings.approval_grace_minutes
    )
    late = apply_deadline(settings, day, now=now, builder=builder)  # a deadline passed first
    if late is not None:
        refused = refuse(
            Action.approve,
            day,
            None,
            f"the approval deadline {deadline.astimezone(settings.tz):%H:%M} passed first: "
            f"{late.line()}",
        )
        refused.digest_id, refused.to_state = late.digest_id, late.to_state
        refused.detail["deadline"] = late.as_dict()
        return refused
    who = operator(by)
    with db.session_scope(settings) as session:
        digest = lock_for(session, settings, day, Action.approve)
        if isinstance(digest, TransitionOutcome):
            return digest
        digest.approved_at = now
        outcome = move(session, digest, Action.approve, State.built, who, reason)
    if now >= core.fire_on(day, settings.send_time, settings.tz):
        started = start(settings, day, by=who, reason="approved after the send time")
        started.detail["approved_by"] = who
        return started
    return outcome


def apply_deadline(
    settings: Settings,
    day: date,
    *,
    now: datetime | None = None,
    builder: Builder | None = None,
) -> TransitionOutcome | None:
    """At SEND_TIME + APPROVAL_GRACE_MINUTES an edition still held is sent or skipped
    (APPROVAL_DEADLINE_ACTION). None when nothing was due."""
    now = now or datetime.now(UTC)
    deadline = core.approval_deadline(
        day, settings.send_time, settings.tz, settings.approval_grace_minutes
    )
    action = settings.approval_deadline_action
    why = (
        f"not approved by {deadline.astimezone(settings.tz):%H:%M} "
        f"(APPROVAL_DEADLINE_ACTION={action})"
    )
    with db.session_scope(settings) as session:
        digest = lock(session, scoped_key(settings, day))
        if digest is None or not core.deadline_due(now, deadline, state_of(digest)):
            return None
        if action == "skip":
            outcome = move(
                session, digest, Action.skip, State.skipped, "approval deadline", why, None, why
            )
            log.warning("edition %s skipped: %s", day, why)
            return outcome
        move(session, digest, Action.approve, State.built, "approval deadline", why)
        digest.approved_at = now  # the content stays what the editors were shown
    return start(settings, day, by="approval deadline", reason=why, builder=builder)


# ---------------------------------------------------------------- start
def start(
    settings: Settings,
    day: date,
    *,
    by: str | None = None,
    reason: str = "",
    force: bool = False,
    builder: Builder | None = None,
) -> TransitionOutcome:
    """Start the edition's send: rebuild it if still allowed, apply the empty-day rule, the
    approval mode and the quiet-day policy (`force`: send a quiet day anyway, never an empty
    one), claim it (`sending`) and fan out. Every road that sends calls this."""
    who = operator(by)
    with db.session_scope(settings) as session:
        digest = lock(session, scoped_key(settings, day), create=True)
        assert digest is not None
        why = core.start_refusal(state_of(digest), digest.skip_reason, force=force)
        if why:
            return refuse(Action.start, day, digest, why)
        _rebuild(session, settings, digest, builder)
        state = state_of(digest)
        if state is None:
            return refuse(Action.start, day, digest, "not built yet")
        if core.needs_approval(settings.send_approval, digest.approved_at is not None):
            mail = state != State.held
            outcome = move(session, digest, Action.hold, State.held, who, reason, None, _HELD)
            digest_id = digest.id
        else:
            decision = core.send_decision(
                settings.quiet_day_policy, settings.quiet_day_min_items, counts_of(digest),
                force=force,
            )  # fmt: skip
            if not decision.send:
                reason_text = decision.reason or "quiet day"
                if state == State.skipped and digest.skip_reason == reason_text:
                    return TransitionOutcome(
                        "skip", True, day, digest.id, "skipped", "skipped", reason_text
                    )
                log.warning("digest %s not sent: %s", day, reason_text)
                return move(
                    session, digest, Action.skip, State.skipped, who, reason, None, reason_text
                )
            digest.send_claimed_at = utcnow()
            digest.fanned_out_at = None
            detail = {"edition": decision.edition, "forced": decision.forced}
            outcome = move(
                session,
                digest,
                Action.start,
                State.sending,
                who,
                reason or decision.reason or "",
                detail,
            )
            if decision.forced:
                log.warning("digest %s sent by %s: %s", day, who, decision.reason)
            digest_id = digest.id
            mail = False
    if outcome.to_state == State.held:
        if mail:
            outcome.detail["editors_mailed"] = _mail_editors(settings, digest_id)
        return outcome
    outcome.detail.update(launch_fan_out(settings, digest_id))
    return outcome


# ---------------------------------------------------------------- skip, miss, finish
def miss(settings: Settings, day: date, *, reason: str, by: str = "catch-up") -> TransitionOutcome:
    """The send time passed beyond the catch-up grace without a send: recorded, never silent."""
    with db.session_scope(settings) as session:
        digest = lock(session, scoped_key(settings, day), create=True)
        assert digest is not None
        why = core.refusal(Action.miss, state_of(digest), digest.skip_reason)
        if why or digest.send_claimed_at is not None:
            return refuse(Action.miss, day, digest, why or "its send was claimed")
        outcome = move(session, digest, Action.miss, State.missed, by, reason, None, reason)
    log.error("digest %s closed by catch-up: %s", day, reason)
    return outcome


# ---------------------------------------------------------------- catch-up
def catch_up(
    settings: Settings, now: datetime | None = None, builder: Builder | None = None
) -> dict[str, Any]:
    """At beat start and periodically: apply an approval deadline that passed, send a missed
    edition within the grace window, otherwise record the day as missed."""
    now = now or datetime.now(UTC)
    grace = timedelta(hours=settings.catchup_grace_hours)
    probe = core.catch_up(now, settings.send_time, settings.tz, grace, None, None)
    if not newsletters.current(settings).publishes_on(probe.day):  # a weekly's other days
        return {"day": probe.day.isoformat(), "action": "none", "reason": "not a publishing day"}
    with db.session_scope(settings) as session:
        digest = find(session, scoped_key(settings, probe.day))
        state, why = state_of(digest), (digest.skip_reason if digest else None)
    decision = core.catch_up(now, settings.send_time, settings.tz, grace, state, why)
    result: dict[str, Any] = {
        "day": decision.day.isoformat(),
        "action": decision.action,
        "late_minutes": round(decision.late.total_seconds() / 60, 1),
        "reason": decision.reason,
    }
    if state == State.held:
        deadline = apply_deadline(settings, decision.day, now=now, builder=builder)
        if deadline is not None:
            result.update(action="deadline", deadline=deadline.as_dict())
    elif decision.action == "send":
        log.warning("catch-up: %s", decision.reason)
        result["send"] = start(
            settings, decision.day, by="catch-up", reason=decision.reason, builder=builder
        ).as_dict()
    elif decision.action == "missed":
        result["recorded"] = miss(settings, decision.day, reason=decision.reason).ok
    return result
