"""What the console's Today page shows about one edition, read from the ledger with its
indexes only (no full-table count): counts per state come from the ledger's counters
(worker/delivery/counters.py), the rate from (digest_id, sent_at), the failures from the
failed/bounced rows alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from worker.delivery.recovery import counts as state_counts
from worker.delivery.resend import resend_outcomes
from worker.edition import core
from worker.edition.core import Action, State
from worker.edition.lifecycle import history
from worker.edition.lookup import DEFAULT_SLUG, find
from worker.models import Delivery, DeliveryState, Digest, Resend, Subscriber

RATE_WINDOW = timedelta(seconds=60)
LATEST_FAILURES = 5000  # the failures grouped on the page: the newest ones
FAILED = (DeliveryState.failed, DeliveryState.bounced)
# the buttons of the Today page, in the order shown, and what the lifecycle calls them
BUTTONS = ("start", "approve", "pause", "resume", "cancel")
LABELS = {
    "start": "Send now",
    "approve": "Approve",
    "pause": "Pause",
    "resume": "Resume",
    "cancel": "Cancel",
}


def state_of(digest: Digest | None) -> State | None:
    """As the lifecycle sees it: a row nobody built yet is "not built"."""
    if digest is None or (digest.window_end is None and digest.state == State.built):
        return None
    return State(digest.state)


def allowed(digest: Digest | None) -> list[str]:
    """The lifecycle actions this edition's state allows (the lifecycle still decides)."""
    state, why = state_of(digest), digest.skip_reason if digest else None
    found = []
    for name in BUTTONS:
        if name == "start":
            if core.start_refusal(state, why, force=False) is None and state is not None:
                found.append(name)
        elif core.refusal(Action(name), state, why) is None:
            found.append(name)
    return found


def current(session: Session, today: date, slug: str = DEFAULT_SLUG) -> Digest | None:
    """Newsletter `slug`'s edition of today, else its latest (the morning after, the sample
    day, a weekly between issues)."""
    digest = find(session, (slug, today))
    if digest is None:
        digest = session.scalar(
            select(Digest).where(Digest.newsletter == slug).order_by(Digest.date.desc()).limit(1)
        )
    return digest


@dataclass
class Summary:
    day: str
    digest_id: int
    state: str
    described: str
    subject: str
    total: int
    counts: dict[str, int]
    left: int
    done: int
    rate_per_minute: int
    eta_seconds: int | None
    error_rate: float
    allowed: list[str]
    by_code: list[dict[str, Any]] = field(default_factory=list)
    by_domain: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    resends: list[dict[str, Any]] = field(default_factory=list)

    def live(self) -> dict[str, Any]:
        """The figures the page's script refreshes (JSON)."""
        return {
            "state": self.state,
            "described": self.described,
            "total": self.total,
            "counts": self.counts,
            "left": self.left,
            "done": self.done,
            "rate_per_minute": self.rate_per_minute,
            "eta": _eta(self.eta_seconds),
            "error_rate": f"{self.error_rate:.1%}",
            "allowed": self.allowed,
        }


def _eta(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(seconds, 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def summary(session: Session, digest: Digest, now: datetime, details: bool = True) -> Summary:
    found = state_counts(session, digest.id)
    counts = {s.value: found.get(s.value, 0) for s in DeliveryState}
    total = max(digest.ledger_rows, sum(counts.values()))
    left = counts["queued"] + counts["sending"]
    recent = int(
        session.scalar(
            select(func.count()).where(
                Delivery.digest_id == digest.id, Delivery.sent_at >= now - RATE_WINDOW
            )
        )
        or 0
    )
    rate = recent * 60 // int(RATE_WINDOW.total_seconds())
    state = state_of(digest)
    eta = int(left * 60 / rate) if rate and left and state == State.sending else None
    failed = counts["failed"] + counts["bounced"]
    tried = counts["sent"] + failed
    result = Summary(
        day=digest.date.isoformat(),
        digest_id=digest.id,
        state=str(state) if state else "not built",
        described=core.describe(state, digest.skip_reason),
        subject=digest.subject,
        total=total,
        counts=counts,
        left=left,
        done=max(0, total - left),
        rate_per_minute=rate,
        eta_seconds=eta,
        error_rate=failed / tried if tried else 0.0,
        allowed=allowed(digest),
    )
    if details:
        result.by_code = failures_by_code(session, digest.id)
        result.by_domain = failures_by_domain(session, digest.id)
        result.events = history(session, digest.id, limit=20)
        result.resends = resends(session, digest.id)
    return result


def _latest_failures(digest_id: int) -> Any:
    """The edition's latest LATEST_FAILURES failed or bounced rows (the partial index
    ix_deliveries_digest_failures, newest first): what is failing now, at any scale."""
    return (
        select(Delivery.id, Delivery.smtp_code, Delivery.subscriber_id)
        .where(Delivery.digest_id == digest_id, Delivery.state.in_(FAILED))
        .order_by(Delivery.id.desc())
        .limit(LATEST_FAILURES)
        .subquery()
    )


def failures_by_code(session: Session, digest_id: int, limit: int = 10) -> list[dict[str, Any]]:
    """The latest failures per SMTP reply code, with the latest reply text of each."""
    f = _latest_failures(digest_id)
    groups = session.execute(
        select(f.c.smtp_code, func.count(), func.max(f.c.id))
        .group_by(f.c.smtp_code)
        .order_by(func.count().desc())
        .limit(limit)
    ).all()
    return _with_latest(session, [(code, n, last) for code, n, last in groups], "code")


def failures_by_domain(session: Session, digest_id: int, limit: int = 10) -> list[dict[str, Any]]:
    """The latest failures per recipient domain, with the latest reply text of each."""
    f = _latest_failures(digest_id)
    groups = session.execute(
        select(Subscriber.domain, func.count(), func.max(f.c.id))
        .join(Subscriber, Subscriber.id == f.c.subscriber_id)
        .group_by(Subscriber.domain)
        .order_by(func.count().desc())
        .limit(limit)
    ).all()
    return _with_latest(session, [(d, n, last) for d, n, last in groups], "domain")


def _with_latest(
    session: Session, groups: list[tuple[Any, int, int]], key: str
) -> list[dict[str, Any]]:
    rows = session.execute(
        select(Delivery.id, Delivery.smtp_code, Delivery.last_error).where(
            Delivery.id.in_([last for _, _, last in groups])
        )
    )
    replies = {i: (code, text) for i, code, text in rows}
    out = []
    for value, n, last in groups:
        code, text = replies.get(last, (None, None))
        latest = f"{code or ''} {text or ''}".strip() or "-"
        out.append({key: value, "count": int(n), "latest": latest})
    return out


def resends(session: Session, digest_id: int, limit: int = 5) -> list[dict[str, Any]]:
    """The edition's latest resends (dry runs left out), each with its rows' states now: the
    resend's own progress (ix_deliveries_resend_id)."""
    rows = list(
        session.scalars(
            select(Resend)
            .where(Resend.digest_id == digest_id, Resend.dry_run.is_(False))
            .order_by(Resend.id.desc())
            .limit(limit)
        )
    )
    states = resend_outcomes(session, [r.id for r in rows])
    return [
        {
            "at": r.at,
            "by": r.requested_by,
            "mode": r.mode + (f" {r.target}" if r.target else ""),
            "selected": r.selected,
            "reason": r.reason,
            "states": states.get(r.id, {}),
        }
        for r in rows
    ]
