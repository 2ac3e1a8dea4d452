"""What every lifecycle action shares: who asks, the edition's state as the rules see it, the
state change with its audit row (`edition_events`: who, why, when, from, to), and the
TransitionOutcome it returns (`.line()` is what the CLI prints, `.as_dict()` what tasks and the
ops API return). The caller holds the edition's row lock (lookup.lock, or lock_for here, which
also asks the rules) and commits."""

from __future__ import annotations

import getpass
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.edition import core
from worker.edition.core import Action, State
from worker.edition.lookup import EditionKey, lock
from worker.models import Digest, EditionEvent
from worker.newsletters import edition_key
from worker.settings import Settings
from worker.storage import Storage

log = logging.getLogger(__name__)
# (session, settings, storage, day) -> the digest with its content (re)built; the tasks wire
# worker.digest.build.build_digest with the audio stage's briefing (worker/digest/tasks.py)
Builder = Callable[[Session, Settings, Storage, date], Digest]


@dataclass
class TransitionOutcome:
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


def scoped_key(settings: Settings, key: EditionKey) -> EditionKey:
    """A day names the edition of the newsletter these settings address (newsletters.scoped)."""
    if isinstance(key, date):
        return edition_key(settings, key)
    return key


def state_of(digest: Digest | None) -> State | None:
    if digest is None or (digest.window_end is None and digest.state == State.built):
        return None  # a row nobody built yet is "not built"
    return State(digest.state)


def refuse(
    action: Action, key: EditionKey, digest: Digest | None, reason: str
) -> TransitionOutcome:
    log.info("edition %s: %s refused: %s", key, action, reason)
    state = str(digest.state) if digest is not None else None
    return TransitionOutcome(
        str(action),
        False,
        digest.date if digest else (key if isinstance(key, date) else None),
        digest.id if digest else None,
        state,
        state,
        reason,
    )


def lock_for(
    session: Session, settings: Settings, key: EditionKey, action: Action
) -> Digest | TransitionOutcome:
    """The edition's row, locked, when the rules allow `action` on it now; else the refusal
    to return (an edition nobody built is refused too)."""
    digest = lock(session, scoped_key(settings, key))
    why = core.refusal(action, state_of(digest), digest.skip_reason if digest else None)
    if digest is None or why:
        return refuse(action, key, digest, why or "not built yet")
    return digest


def move(
    session: Session,
    digest: Digest,
    action: Action,
    to: State,
    by: str,
    reason: str = "",
    detail: dict[str, Any] | None = None,
    state_reason: str | None = None,
    before: State | Literal["row"] | None = "row",
) -> TransitionOutcome:
    """Change the state and write the audit row (the caller holds the lock and commits);
    `before`: the state before a build that ran in this transaction (else the row's)."""
    before = state_of(digest) if before == "row" else before
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
    return TransitionOutcome(
        str(action),
        True,
        digest.date,
        digest.id,
        str(before) if before else None,
        str(to),
        state_reason or reason,
        detail or {},
    )


def counts_of(digest: Digest) -> core.Counts:
    return core.Counts(digest.article_count, digest.feed_item_count, digest.pick_count)


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
