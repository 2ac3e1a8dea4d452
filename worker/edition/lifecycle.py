"""The edition lifecycle's edge: every road that builds, starts, pauses, resumes, cancels,
approves, skips, misses or resends an edition calls a function here.

Each function takes the edition's row lock (lookup.lock), asks core.py whether the action is
allowed, changes the state and writes an audit row (`edition_events`: who, why, when, from,
to) in one transaction, and only then does its I/O (the fan-out, dispatching batches, the
editors' mail). A refusal changes nothing and comes back as an Outcome with a one-line
reason. Every function returns an Outcome; `Outcome.line()` is what the CLI prints and
`Outcome.as_dict()` what tasks and the ops API return.
"""

from __future__ import annotations

import getpass
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from worker import db, newsletters
from worker.edition import _fanout, core
from worker.edition.core import Action, State
from worker.edition.lookup import EditionKey, find, lock
from worker.models import Delivery, DeliveryState, Digest, EditionEvent, utcnow
from worker.newsletters import edition_key
from worker.settings import Settings
from worker.storage import Storage, get_storage

log = logging.getLogger(__name__)

# (session, settings, storage, day) -> the digest with its content (re)built; the tasks wire
# worker.digest.service.build_digest with the audio stage's briefing (worker/digest/tasks.py)
Builder = Callable[[Session, Settings, Storage, date], Digest]


@dataclass
class Outcome:
    action: str
    ok: bool
    day: date | None
    digest_id: int | None
    from_state: str | None
    to_state: str | None
    reason: str = ""
    detail: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        when = self.day.isoformat() if self.day else f"#{self.digest_id}"
        if not self.ok:
            return f"digest {when}: {self.action} refused: {self.reason}"
        text = f"digest {when}: {self.to_state}"
        return f"{text}, {self.reason}" if self.reason else text

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "ok": self.ok,
            "day": self.day.isoformat() if self.day else None,
            "digest_id": self.digest_id,
            "from_state": self.from_state,
            "to_state": self.to_state,
            "reason": self.reason,
            "detail": self.detail,
            "line": self.line(),
        }


def operator(by: str | None = None) -> str:
    """Who asks: given, else DIGESTCAST_OPERATOR, else the login name."""
    if by:
        return by[:200]
    try:
        return (os.environ.get("DIGESTCAST_OPERATOR") or getpass.getuser())[:200]
    except Exception:
        return "unknown"


def _key(settings: Settings, key: EditionKey) -> EditionKey:
    """A day names the edition of the newsletter these settings address (newsletters.scoped)."""
    if isinstance(key, date):
        return edition_key(settings, key)
    return key


def _state(digest: Digest | None) -> State | None:
    if digest is None or (digest.window_end is None and digest.state == State.built):
        return None  # a row nobody built yet is "not built"
    return State(digest.state)


def _refused(action: Action, key: EditionKey, digest: Digest | None, reason: str) -> Outcome:
    log.info("edition %s: %s refused: %s", key, action, reason)
    state = str(digest.state) if digest is not None else None
    return Outcome(
        str(action),
        False,
        digest.date if digest else (key if isinstance(key, date) else None),
        digest.id if digest else None,
        state,
        state,
        reason,
    )


def _move(
    session: Session,
    digest: Digest,
    action: Action,
    to: State,
    by: str,
    reason: str = "",
    detail: dict[str, Any] | None = None,
    state_reason: str | None = None,
    before: State | Literal["row"] | None = "row",
) -> Outcome:
    """Change the state and write the audit row (the caller holds the lock and commits);
    `before`: the state before a build that ran in this transaction (else the row's)."""
    before = _state(digest) if before == "row" else before
    digest.state = to
    digest.skip_reason = state_reason
    session.add(
        EditionEvent(
            digest_id=digest.id,
            action=str(action),
            from_state=str(before) if before else None,
            to_state=str(to),
            by=by,
            reason=reason or state_reason or "",
            detail=detail or {},
        )
    )
    session.flush()
    return Outcome(
        str(action),
        True,
        digest.date,
        digest.id,
        str(before) if before else None,
        str(to),
        state_reason or reason,
        detail or {},
    )


def _counts(digest: Digest) -> core.Counts:
    return core.Counts(digest.article_count, digest.feed_item_count, digest.pick_count)


def _rebuild(session: Session, settings: Settings, digest: Digest, builder: Builder | None) -> None:
    state = _state(digest)
    claimed = digest.send_claimed_at is not None
    approved = digest.approved_at is not None
    never_built = digest.window_end is None  # e.g. a day catch-up recorded missed
    if builder is not None and (
        never_built or core.may_rebuild(state, digest.skip_reason, claimed, approved)
    ):
        builder(session, settings, get_storage(settings), digest.date)
        session.flush()


# ---------------------------------------------------------------- build, hold, approve
def build(settings: Settings, day: date, *, builder: Builder, by: str | None = None) -> Outcome:
    """Build (or rebuild, to include late items) the edition's content before it is sent.
    With SEND_APPROVAL=required a new edition is held and the editors are mailed a preview."""
    who = operator(by)
    mail = False
    with db.session_scope(settings) as session:
        digest = lock(session, _key(settings, day), create=True)
        assert digest is not None
        state = _state(digest)
        claimed = digest.send_claimed_at is not None
        if state is not None and not core.may_rebuild(
            state, digest.skip_reason, claimed, digest.approved_at is not None
        ):
            why = core.refusal(Action.build, state, digest.skip_reason) or (
                f"it is {core.describe(state)}: its content no longer changes"
            )
            return _refused(Action.build, day, digest, why)
        builder(session, settings, get_storage(settings), day)
        detail = {"stories": digest.article_count, "news_items": digest.feed_item_count}
        detail["picks"] = digest.pick_count
        if state == State.skipped and _counts(digest).empty:  # still empty: nothing new
            return Outcome("build", True, day, digest.id, "skipped", "skipped", core.EMPTY_DAY)
        if core.needs_approval(settings.send_approval, digest.approved_at is not None):
            mail = state != State.held
            outcome = _move(session, digest, Action.hold, State.held, who, "", detail, _HELD, state)
        else:
            outcome = _move(
                session, digest, Action.build, State.built, who, "", detail, None, state
            )
        digest_id = digest.id
    if mail:
        outcome.detail["editors_mailed"] = _mail_editors(settings, digest_id)
    return outcome


_HELD = "waiting for an editor's approval (SEND_APPROVAL=required)"


def _mail_editors(settings: Settings, digest_id: int) -> int:
    """The held edition's preview link to every editor (on the transactional queue with a
    broker: worker/delivery/transactional.py); a failed mail is logged, not fatal."""
    from worker.delivery.transactional import send_soon

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
) -> Outcome:
    """An editor's changes (worker/digest/editorial.py), stored and rebuilt at once, while the
    content may still change: never once the send is claimed or an editor approved it. The
    state stays what it was; the change is recorded as an `edit` event."""
    who = operator(by)
    with db.session_scope(settings) as session:
        digest = lock(session, _key(settings, day))
        state = _state(digest)
        if digest is None or state is None:
            return _refused(Action.build, day, digest, "not built yet")
        claimed, approved = digest.send_claimed_at is not None, digest.approved_at is not None
        if not core.may_rebuild(state, digest.skip_reason, claimed, approved):
            why = "it was approved" if approved and not claimed else f"it is {core.describe(state)}"
            refused = _refused(Action.build, day, digest, f"{why}: its content no longer changes")
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
        return Outcome("edit", True, day, digest.id, str(state), str(state), reason, detail)


def approve(
    settings: Settings,
    day: date,
    *,
    by: str | None = None,
    reason: str = "",
    now: datetime | None = None,
    builder: Builder | None = None,
) -> Outcome:
    """An editor approves a held edition; after the send time it goes out at once."""
    now = now or datetime.now(UTC)
    deadline = core.approval_deadline(
        day, settings.send_time, settings.tz, settings.approval_grace_minutes
    )
    late = apply_deadline(settings, day, now=now, builder=builder)  # a deadline passed first
    if late is not None:
        refused = _refused(
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
        digest = lock(session, _key(settings, day))
        why = core.refusal(Action.approve, _state(digest), digest.skip_reason if digest else None)
        if digest is None or why:
            return _refused(Action.approve, day, digest, why or "not built yet")
        digest.approved_at = now
        outcome = _move(session, digest, Action.approve, State.built, who, reason)
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
) -> Outcome | None:
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
        digest = lock(session, _key(settings, day))
        if digest is None or not core.deadline_due(now, deadline, _state(digest)):
            return None
        if action == "skip":
            outcome = _move(
                session, digest, Action.skip, State.skipped, "approval deadline", why, None, why
            )
            log.warning("edition %s skipped: %s", day, why)
            return outcome
        _move(session, digest, Action.approve, State.built, "approval deadline", why)
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
) -> Outcome:
    """Start the edition's send: rebuild it if still allowed, apply the empty-day rule, the
    approval mode and the quiet-day policy (`force`: send a quiet day anyway, never an empty
    one), claim it (`sending`) and fan out. Every road that sends calls this."""
    who = operator(by)
    with db.session_scope(settings) as session:
        digest = lock(session, _key(settings, day), create=True)
        assert digest is not None
        why = core.start_refusal(_state(digest), digest.skip_reason, force=force)
        if why:
            return _refused(Action.start, day, digest, why)
        _rebuild(session, settings, digest, builder)
        state = _state(digest)
        if state is None:
            return _refused(Action.start, day, digest, "not built yet")
        if core.needs_approval(settings.send_approval, digest.approved_at is not None):
            mail = state != State.held
            outcome = _move(session, digest, Action.hold, State.held, who, reason, None, _HELD)
            digest_id = digest.id
        else:
            decision = core.send_decision(
                settings.quiet_day_policy, settings.quiet_day_min_items, _counts(digest),
                force=force,
            )  # fmt: skip
            if not decision.send:
                reason_text = decision.reason or "quiet day"
                if state == State.skipped and digest.skip_reason == reason_text:
                    return Outcome("skip", True, day, digest.id, "skipped", "skipped", reason_text)
                log.warning("digest %s not sent: %s", day, reason_text)
                return _move(
                    session, digest, Action.skip, State.skipped, who, reason, None, reason_text
                )
            digest.send_claimed_at = utcnow()
            digest.fanned_out_at = None
            detail = {"edition": decision.edition, "forced": decision.forced}
            outcome = _move(
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
    outcome.detail.update(_launch_fan_out(settings, digest_id))
    return outcome


def _launch_fan_out(settings: Settings, digest_id: int) -> dict[str, Any]:
    """The fan-out of an edition now `sending`: here when embedded, else a worker's task."""
    if settings.embedded:
        return fan_out(settings, digest_id)
    from worker.delivery.dispatch import queue_fan_out

    queue_fan_out(digest_id)
    return {"fan_out": "dispatched"}


def fan_out(settings: Settings, digest_id: int) -> dict[str, Any]:
    """The `digest.fan_out` task: create and dispatch the rows of an edition in `sending`
    (nothing for any other state), then finish it if nothing is left in flight."""
    with db.session_scope(settings) as session:
        done = _fanout.fan_out(session, settings, digest_id)
    finish_if_drained(settings, digest_id)
    return done


# ---------------------------------------------------------------- pause, resume, cancel
def pause(
    settings: Settings, key: EditionKey, *, by: str | None = None, reason: str = "",
    wait_seconds: float = 0.0,
) -> Outcome:  # fmt: skip
    """Stop claiming: batches stop within about a second, after the message on the wire, and
    give their claimed rows back. `wait_seconds`: wait until no row is being sent."""
    who = operator(by)
    with db.session_scope(settings) as session:
        digest = lock(session, _key(settings, key))
        why = core.refusal(Action.pause, _state(digest), digest.skip_reason if digest else None)
        if digest is None or why:
            return _refused(Action.pause, key, digest, why or "not built yet")
        text = f"paused by {who}" + (f": {reason}" if reason else "")
        outcome = _move(session, digest, Action.pause, State.paused, who, reason, None, text)
    if wait_seconds > 0:
        outcome.detail["in_flight"] = wait_quiet(settings, outcome.digest_id or 0, wait_seconds)
    return outcome


def resume(
    settings: Settings, key: EditionKey, *, by: str | None = None, reason: str = ""
) -> Outcome:
    """Send on exactly where it stopped: the queued rows are dispatched again (a fan-out that
    was cut short is completed first); what was sent stays sent."""
    from worker.delivery import autopause

    who = operator(by)
    with db.session_scope(settings) as session:
        digest = lock(session, _key(settings, key))
        why = core.refusal(Action.resume, _state(digest), digest.skip_reason if digest else None)
        if digest is None or why:
            return _refused(Action.resume, key, digest, why or "not built yet")
        outcome = _move(session, digest, Action.resume, State.sending, who, reason)
        digest.send_claimed_at = utcnow()
        fanned_out = digest.fanned_out_at is not None
        digest_id = digest.id
    autopause.window(settings).reset(digest_id)  # judge the resumed send on its own attempts
    if not fanned_out:
        outcome.detail.update(_launch_fan_out(settings, digest_id))
        return outcome
    with db.session_scope(settings) as session:
        outcome.detail["dispatched"] = _fanout.dispatch_queued(session, settings, digest_id)
    finish_if_drained(settings, digest_id)
    return outcome


def cancel(
    settings: Settings, key: EditionKey, *, by: str | None = None, reason: str = "",
    wait_seconds: float = 0.0,
) -> Outcome:  # fmt: skip
    """Stop for good: rows not sent become `cancelled`, what was sent stays sent."""
    who = operator(by)
    with db.session_scope(settings) as session:
        digest = lock(session, _key(settings, key))
        why = core.refusal(Action.cancel, _state(digest), digest.skip_reason if digest else None)
        if digest is None or why:
            return _refused(Action.cancel, key, digest, why or "not built yet")
        text = f"cancelled by {who}" + (f": {reason}" if reason else "")
        outcome = _move(session, digest, Action.cancel, State.cancelled, who, reason, None, text)
        outcome.detail["cancelled_rows"] = _sweep_cancelled(session, digest.id)
    if wait_seconds > 0 and outcome.digest_id is not None:
        outcome.detail["in_flight"] = wait_quiet(settings, outcome.digest_id, wait_seconds)
        with db.session_scope(settings) as session:  # rows given back while it stopped
            outcome.detail["cancelled_rows"] += _sweep_cancelled(session, outcome.digest_id)
    return outcome


def _sweep_cancelled(session: Session, digest_id: int) -> int:
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


# ---------------------------------------------------------------- skip, miss, finish
def miss(settings: Settings, day: date, *, reason: str, by: str = "catch-up") -> Outcome:
    """The send time passed beyond the catch-up grace without a send: recorded, never silent."""
    with db.session_scope(settings) as session:
        digest = lock(session, _key(settings, day), create=True)
        assert digest is not None
        why = core.refusal(Action.miss, _state(digest), digest.skip_reason)
        if why or digest.send_claimed_at is not None:
            return _refused(Action.miss, day, digest, why or "its send was claimed")
        outcome = _move(session, digest, Action.miss, State.missed, by, reason, None, reason)
    log.error("digest %s closed by catch-up: %s", day, reason)
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
        _move(session, digest, Action.finish, State.sent, "delivery")
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
    from worker.delivery.resend import requeue

    modes = [m for m, on in (("to", to is not None), ("failed", failed), ("all", everyone)) if on]
    if len(modes) != 1:
        raise ValueError("choose exactly one of to=EMAIL, failed=True, everyone=True")
    who = operator(requested_by)
    with db.session_scope(settings) as session:
        digest = lock(session, _key(settings, day))
        if digest is None:
            return {"refused": f"no digest for {day.isoformat()}", "mode": modes[0]}
        why = core.refusal(Action.resend, _state(digest), digest.skip_reason)
        if why:
            return {"digest_id": digest.id, "mode": modes[0], "refused": f"the edition is {why}"}
        result = requeue(
            session, settings, digest, mode=modes[0], to=to, dry_run=dry_run, who=who,
            reason=reason,
        )  # fmt: skip
        if "refused" in result or dry_run or not result.get("queued"):
            return result
        detail = {"resend_id": result["resend_id"], "mode": modes[0], "queued": result["queued"]}
        _move(session, digest, Action.resend, State.sending, who, reason, detail)
        digest_id = digest.id
    with db.session_scope(settings) as session:
        _fanout.dispatch_queued(session, settings, digest_id)
    if settings.embedded:
        finish_if_drained(settings, digest_id)
        with db.session_scope(settings) as session:
            from worker.delivery.recovery import counts

            result["counts"] = counts(session, digest_id)
    return result


# ---------------------------------------------------------------- reconcile
def reconcile(settings: Settings) -> dict[str, int]:
    """The periodic repair (beat, every minute; wait_for_drain now and then): row leases and
    lost batches of `sending` editions, fan-outs that died, editions to finish, and rows of
    cancelled editions given back late. Never touches a paused edition's rows."""
    from worker.delivery.recovery import repair_rows

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
            stats["rows_cancelled"] = stats.get("rows_cancelled", 0) + _sweep_cancelled(
                session, digest_id
            )
    for digest_id, fanned_out_at, claimed_at in sending:
        if fanned_out_at is None and (claimed_at is None or claimed_at < stale):
            try:
                _launch_fan_out(settings, digest_id)
            except Exception as exc:  # broker down: the next pass tries again
                log.warning("reconcile: cannot resume the fan-out of %s: %s", digest_id, exc)
                stats["dispatch_errors"] = stats.get("dispatch_errors", 0) + 1
                continue
            stats["fan_outs_resumed"] = stats.get("fan_outs_resumed", 0) + 1
        elif fanned_out_at is not None:
            finished = finish_if_drained(settings, digest_id)
            stats["digests_finished"] = stats.get("digests_finished", 0) + int(finished)
    return stats


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
        digest = find(session, _key(settings, probe.day))
        state, why = _state(digest), (digest.skip_reason if digest else None)
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


# ---------------------------------------------------------------- history
def history(session: Session, digest_id: int, limit: int = 50) -> list[dict[str, Any]]:
    """The edition's transitions, oldest first (status and the ops API show them)."""
    events = session.scalars(
        select(EditionEvent)
        .where(EditionEvent.digest_id == digest_id)
        .order_by(EditionEvent.id.desc())
        .limit(limit)
    ).all()
    return [
        {
            "at": e.at.isoformat(),
            "action": e.action,
            "from": e.from_state,
            "to": e.to_state,
            "by": e.by,
            "reason": e.reason,
            "detail": e.detail,
        }
        for e in reversed(events)
    ]
