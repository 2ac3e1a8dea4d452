"""worker/ops/today.py: what the console's Today page says about one edition (SQLite)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from worker.edition.core import EMPTY_DAY
from worker.models import (
    Delivery,
    DeliveryState,
    Digest,
    DigestState,
    EditionEvent,
    Resend,
    Subscriber,
    SubscriberState,
)
from worker.ops import today

DAY = date(2026, 11, 27)
NOW = datetime(2026, 11, 27, 5, 30, tzinfo=UTC)


def digest_row(
    state: DigestState = DigestState.built,
    *,
    built: bool = True,
    why: str | None = None,
    day: date = DAY,
    slug: str = "daily",
) -> Digest:
    # a row the lifecycle created but nobody built yet has no window
    end = datetime.combine(day, time(5), tzinfo=UTC) if built else None
    return Digest(
        date=day, newsletter=slug, state=state, window_end=end, skip_reason=why, subject="Daily"
    )


def add_digest(
    session: Session,
    state: DigestState = DigestState.built,
    *,
    built: bool = True,
    day: date = DAY,
    slug: str = "daily",
) -> Digest:
    digest = digest_row(state, built=built, day=day, slug=slug)
    session.add(digest)
    session.flush()
    return digest


def add_rows(
    session: Session,
    digest_id: int,
    state: DeliveryState,
    n: int,
    *,
    domain: str = "example.net",
    code: int | None = None,
    error: str | None = None,
    sent_at: datetime | None = None,
    resend_id: int | None = None,
) -> None:
    """`n` new subscribers with a ledger row each, in one INSERT (the counters' triggers run)."""
    first = session.scalar(select(Subscriber.id).order_by(Subscriber.id.desc()).limit(1)) or 0
    session.execute(
        insert(Subscriber),
        [
            {"email": f"r{first + i}@{domain}", "domain": domain, "state": SubscriberState.active}
            for i in range(1, n + 1)
        ],
    )
    ids = session.scalars(select(Subscriber.id).where(Subscriber.id > first)).all()
    session.execute(
        insert(Delivery),
        [
            {
                "digest_id": digest_id,
                "subscriber_id": sid,
                "state": state,
                "message_id": f"<{digest_id}.{sid}@x>",
                "smtp_code": code,
                "last_error": error,
                "sent_at": sent_at,
                "resend_id": resend_id,
            }
            for sid in ids
        ],
    )


# ---------------------------------------------------------------- state and buttons
@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (None, []),
        (digest_row(built=False), []),  # not built: nothing to send yet
        (digest_row(DigestState.built), ["start", "cancel"]),
        (digest_row(DigestState.held), ["approve", "cancel"]),
        (digest_row(DigestState.sending), ["pause", "cancel"]),
        (digest_row(DigestState.paused), ["resume", "cancel"]),
        (digest_row(DigestState.sent), []),
        (digest_row(DigestState.cancelled), []),
        (digest_row(DigestState.missed), []),
        (digest_row(DigestState.skipped, why=EMPTY_DAY), ["start"]),  # an empty day stays open
        (digest_row(DigestState.skipped, why="quiet day: 1 stories (< 3)"), []),
    ],
)
def test_allowed_buttons_follow_the_lifecycle(row: Digest | None, expected: list[str]) -> None:
    assert today.allowed(row) == expected


def test_state_of() -> None:
    assert today.state_of(None) is None
    assert today.state_of(digest_row(built=False)) is None
    assert today.state_of(digest_row(DigestState.built)) == DigestState.built
    # only a built row without a window counts as not built: a held one is what it says
    assert today.state_of(digest_row(DigestState.held, built=False)) == DigestState.held


def test_every_button_has_a_label() -> None:
    assert set(today.LABELS) == set(today.BUTTONS)


# ---------------------------------------------------------------- current
def test_current_is_todays_else_the_latest_of_that_newsletter(session: Session) -> None:
    assert today.current(session, DAY) is None
    old = add_digest(session, day=DAY - timedelta(days=2))
    weekly = add_digest(session, day=DAY, slug="weekly")
    assert today.current(session, DAY) is old  # the daily's latest, not the weekly's today
    assert today.current(session, DAY, "weekly") is weekly
    todays = add_digest(session, day=DAY)
    add_digest(session, day=DAY + timedelta(days=1))  # a later one: today's still wins
    assert today.current(session, DAY) is todays


# ---------------------------------------------------------------- summary
def test_summary_of_an_edition_without_a_ledger(session: Session) -> None:
    digest = add_digest(session, DigestState.built)
    s = today.summary(session, digest, NOW)
    assert (s.day, s.digest_id, s.state, s.subject) == ("2026-11-27", digest.id, "built", "Daily")
    assert s.described == "built and not sent"
    assert s.total == s.left == s.done == s.rate_per_minute == 0
    assert s.counts == {state.value: 0 for state in DeliveryState}
    assert s.eta_seconds is None and s.error_rate == 0.0
    assert (s.by_code, s.by_domain, s.events, s.resends) == ([], [], [], [])
    assert s.allowed == ["start", "cancel"]


def test_summary_of_a_not_built_row_says_so(session: Session) -> None:
    s = today.summary(session, add_digest(session, built=False), NOW)
    assert (s.state, s.described, s.allowed) == ("not built", "not built yet", [])


def test_summary_while_sending_counts_rate_eta_and_errors(session: Session) -> None:
    digest = add_digest(session, DigestState.sending)
    recent = NOW - timedelta(seconds=30)
    add_rows(session, digest.id, DeliveryState.sent, 6, sent_at=recent)
    add_rows(session, digest.id, DeliveryState.sent, 4, sent_at=NOW - timedelta(minutes=10))
    add_rows(session, digest.id, DeliveryState.queued, 10)
    add_rows(session, digest.id, DeliveryState.sending, 2)
    add_rows(session, digest.id, DeliveryState.failed, 3, code=421, error="try later")
    add_rows(session, digest.id, DeliveryState.bounced, 2, code=550, error="no such user")
    add_rows(session, digest.id, DeliveryState.suppressed, 1)
    s = today.summary(session, digest, NOW)
    assert s.counts["sent"] == 10 and s.counts["queued"] == 10 and s.counts["bounced"] == 2
    assert s.total == 28
    assert (s.left, s.done) == (12, 16)
    assert s.rate_per_minute == 6  # the rows sent in the last minute only
    assert s.eta_seconds == 12 * 60 // 6
    assert s.error_rate == pytest.approx(5 / 15)  # failed+bounced over tried
    assert s.allowed == ["pause", "cancel"]
    live = s.live()
    assert live["eta"] == "2 min 00 s" and live["error_rate"] == "33.3%"
    assert live["state"] == "sending" and live["left"] == 12
    assert set(live) == {
        "state", "described", "total", "counts", "left", "done",
        "rate_per_minute", "eta", "error_rate", "allowed",
    }  # fmt: skip


def test_no_eta_unless_sending_or_without_a_rate(session: Session) -> None:
    paused = add_digest(session, DigestState.paused)
    add_rows(session, paused.id, DeliveryState.sent, 3, sent_at=NOW)
    add_rows(session, paused.id, DeliveryState.queued, 3)
    s = today.summary(session, paused, NOW)
    assert s.rate_per_minute == 3 and s.eta_seconds is None
    stalled = add_digest(session, DigestState.sending, day=DAY + timedelta(days=1))
    add_rows(session, stalled.id, DeliveryState.queued, 3)
    assert today.summary(session, stalled, NOW).eta_seconds is None


def test_total_is_the_fanned_out_count_while_rows_are_still_being_made(session: Session) -> None:
    digest = add_digest(session, DigestState.sending)
    digest.ledger_rows = 100
    add_rows(session, digest.id, DeliveryState.queued, 4)
    s = today.summary(session, digest, NOW)
    assert (s.total, s.left, s.done) == (100, 4, 96)


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(None, "-"), (0, "0 s"), (59, "59 s"), (60, "1 min 00 s"), (3725, "62 min 05 s")],
)
def test_eta_wording(seconds: int | None, shown: str) -> None:
    s = today.Summary(
        day="2026-11-27", digest_id=1, state="sending", described="sending", subject="",
        total=0, counts={}, left=0, done=0, rate_per_minute=0, eta_seconds=seconds,
        error_rate=0.0, allowed=[],
    )  # fmt: skip
    assert s.live()["eta"] == shown


def test_summary_without_details_leaves_the_lists_empty(session: Session) -> None:
    digest = add_digest(session, DigestState.sending)
    add_rows(session, digest.id, DeliveryState.failed, 2, code=421)
    session.add(EditionEvent(digest_id=digest.id, action="start", to_state="sending"))
    s = today.summary(session, digest, NOW, details=False)
    assert s.counts["failed"] == 2
    assert (s.by_code, s.by_domain, s.events, s.resends) == ([], [], [], [])
    assert today.summary(session, digest, NOW).events[0]["action"] == "start"


# ---------------------------------------------------------------- failures
def test_failures_grouped_by_code_and_domain_with_the_latest_reply(session: Session) -> None:
    digest = add_digest(session, DigestState.sending)
    add_rows(session, digest.id, DeliveryState.failed, 1, code=421, error="first reply")
    add_rows(session, digest.id, DeliveryState.failed, 2, code=421, error="latest reply")
    add_rows(session, digest.id, DeliveryState.bounced, 1, code=550, domain="example.org")
    add_rows(session, digest.id, DeliveryState.failed, 1)  # no code, no text
    add_rows(session, digest.id, DeliveryState.sent, 5, code=250, error="ok")  # not failures
    by_code = today.failures_by_code(session, digest.id)
    assert by_code[0] == {"code": 421, "count": 3, "latest": "421 latest reply"}
    assert {"code": 550, "count": 1, "latest": "550"} in by_code
    assert {"code": None, "count": 1, "latest": "-"} in by_code
    assert len(by_code) == 3
    by_domain = today.failures_by_domain(session, digest.id)
    assert by_domain[0] == {"domain": "example.net", "count": 4, "latest": "-"}
    assert by_domain[1] == {"domain": "example.org", "count": 1, "latest": "550"}
    assert today.failures_by_code(session, digest.id, limit=1) == by_code[:1]


def test_failures_are_the_editions_own(session: Session) -> None:
    one = add_digest(session, DigestState.sending)
    other = add_digest(session, DigestState.sent, day=DAY - timedelta(days=1))
    add_rows(session, other.id, DeliveryState.failed, 2, code=421)
    assert today.failures_by_code(session, one.id) == []
    assert today.failures_by_domain(session, one.id) == []


def test_only_the_latest_failures_are_grouped(session: Session) -> None:
    digest = add_digest(session, DigestState.sending)
    add_rows(session, digest.id, DeliveryState.failed, 1, code=421)  # the oldest: left out
    add_rows(session, digest.id, DeliveryState.bounced, today.LATEST_FAILURES, code=550)
    assert today.failures_by_code(session, digest.id) == [
        {"code": 550, "count": today.LATEST_FAILURES, "latest": "550"}
    ]


# ---------------------------------------------------------------- resends
def test_resends_newest_first_without_dry_runs_with_their_rows_states(session: Session) -> None:
    digest = add_digest(session, DigestState.sent)
    at = datetime(2026, 11, 27, 9, tzinfo=UTC)
    rows = [
        Resend(digest_id=digest.id, mode="failed", selected=3, at=at, requested_by="ops@x"),
        Resend(digest_id=digest.id, mode="all", dry_run=True, selected=9, at=at),
        Resend(
            digest_id=digest.id, mode="to", target="anna@example.net", selected=1, at=at,
            reason="lost it",
        ),
    ]  # fmt: skip
    session.add_all(rows)
    session.flush()
    add_rows(session, digest.id, DeliveryState.sent, 2, resend_id=rows[0].id)
    add_rows(session, digest.id, DeliveryState.queued, 1, resend_id=rows[0].id)
    found = today.resends(session, digest.id)
    assert [r["mode"] for r in found] == ["to anna@example.net", "failed"]
    assert found[0] == {
        "at": at, "by": "", "mode": "to anna@example.net", "selected": 1,
        "reason": "lost it", "states": {},
    }  # fmt: skip
    assert found[1]["states"] == {"sent": 2, "queued": 1} and found[1]["by"] == "ops@x"
    assert [r["mode"] for r in today.resends(session, digest.id, limit=1)] == [
        "to anna@example.net"
    ]
