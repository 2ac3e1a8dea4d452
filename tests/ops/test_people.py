"""worker/ops/people.py: the console's recipient lookup, ledger history and unsuppress (SQLite)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.models import (
    Delivery,
    DeliveryEvent,
    DeliveryState,
    Digest,
    Subscriber,
    SubscriberState,
    Suppression,
)
from worker.ops import people


def add(session: Session, *emails: str) -> list[int]:
    rows = [
        Subscriber(email=e, domain=e.rsplit("@", 1)[1], state=SubscriberState.active)
        for e in emails
    ]
    session.add_all(rows)
    session.flush()
    return [r.id for r in rows]


def found(session: Session, q: str) -> list[str]:
    return [s.email for s in people.lookup(session, q)]


# ---------------------------------------------------------------- lookup
def test_an_empty_or_blank_query_finds_no_one(session: Session) -> None:
    add(session, "anna@example.net")
    assert found(session, "") == []
    assert found(session, "   \t ") == []


def test_exact_address_first_then_the_ones_it_starts(session: Session) -> None:
    add(session, "anna@example.net.ua", "anna@example.net", "anna@example.nets")
    assert found(session, "  ANNA@Example.NET ") == [
        "anna@example.net",
        "anna@example.net.ua",
        "anna@example.nets",
    ]


def test_a_prefix(session: Session) -> None:
    add(session, "olena@example.net", "oleh@example.org", "ivan@example.net")
    assert found(session, "ole") == ["oleh@example.org", "olena@example.net"]


def test_at_domain_uses_the_domain_only(session: Session) -> None:
    add(session, "b@example.net", "a@example.net", "c@sub.example.net", "example.net@x.org")
    assert found(session, "@example.net") == ["a@example.net", "b@example.net"]
    assert found(session, "@nowhere.example") == []


def test_a_middle_part_scans_only_when_nothing_else_matched(session: Session) -> None:
    add(session, "anna.kovalenko@example.net", "petro@kovalenko.example")
    assert found(session, "kovalenko") == ["anna.kovalenko@example.net", "petro@kovalenko.example"]
    assert found(session, "ko") == []  # under three characters: no scan


def test_like_wildcards_are_literal(session: Session) -> None:
    add(session, "a_b@example.net", "axb@example.net", "100%@example.net", "100x@example.net")
    assert found(session, "a_") == ["a_b@example.net"]
    assert found(session, "100%") == ["100%@example.net"]
    assert found(session, "_b@") == ["a_b@example.net"]  # the scan escapes them too


def test_at_most_limit_rows(session: Session) -> None:
    add(session, *[f"reader{n:03d}@example.net" for n in range(people.LIMIT + 5)])
    assert len(found(session, "reader")) == people.LIMIT
    assert len(found(session, "@example.net")) == people.LIMIT
    exact = found(session, "reader050@example.net")
    assert exact == ["reader050@example.net"]  # nothing else starts with it


def test_an_absurdly_long_query_is_cut_not_refused(session: Session) -> None:
    assert found(session, "a" * 10_000) == []


# ---------------------------------------------------------------- history
def edition(session: Session, day: date, slug: str = "daily") -> int:
    digest = Digest(date=day, newsletter=slug, subject=f"{slug} {day}")
    session.add(digest)
    session.flush()
    return digest.id


def test_history_of_no_one(session: Session) -> None:
    assert people.history(session, 12345) == []


def test_history_newest_edition_first_with_its_events(session: Session) -> None:
    (sid,) = add(session, "anna@example.net")
    (other,) = add(session, "ivan@example.net")
    old, new = edition(session, date(2026, 11, 26)), edition(session, date(2026, 11, 27), "weekly")
    sent_at = datetime(2026, 11, 27, 5, 1, tzinfo=UTC)
    bounced = Delivery(
        digest_id=old,
        subscriber_id=sid,
        state=DeliveryState.bounced,
        message_id="<old@x>",
        attempts=2,
        smtp_code=550,
        last_error="mailbox unavailable",
    )
    sent = Delivery(
        digest_id=new,
        subscriber_id=sid,
        state=DeliveryState.sent,
        message_id="<new@x>",
        attempts=1,
        sent_at=sent_at,
        resend_count=1,
    )
    session.add_all(
        [bounced, sent, Delivery(digest_id=new, subscriber_id=other, message_id="<o@x>")]
    )
    session.flush()
    at = datetime(2026, 11, 26, 6, tzinfo=UTC)
    session.add_all(
        [
            DeliveryEvent(delivery_id=bounced.id, at=at, kind="sent", detail=""),
            DeliveryEvent(delivery_id=bounced.id, at=at, kind="bounce", detail="5.1.1"),
        ]
    )
    session.flush()

    first, second = people.history(session, sid)
    assert first == {
        "day": "2026-11-27",
        "newsletter": "weekly",
        "state": "sent",
        "attempts": 1,
        "reply": "",
        "message_id": "<new@x>",
        "sent_at": sent_at,
        "resends": 1,
        "events": [],
    }
    assert (second["day"], second["state"], second["reply"]) == (
        "2026-11-26",
        "bounced",
        "550 mailbox unavailable",
    )
    assert second["events"] == [(at, "sent", ""), (at, "bounce", "5.1.1")]


# ---------------------------------------------------------------- suppression
def test_unsuppress_lifts_the_entry_and_says_why_it_was(session: Session) -> None:
    session.add(Suppression(email="gone@example.net", reason="hard bounce"))
    session.flush()
    entry = people.suppression(session, "gone@example.net")
    assert entry is not None and entry.reason == "hard bounce"
    assert people.unsuppress(session, "gone@example.net") == "hard bounce"
    assert session.scalars(select(Suppression)).all() == []
    assert people.suppression(session, "gone@example.net") is None


def test_unsuppress_an_address_not_suppressed(session: Session) -> None:
    session.add(Suppression(email="other@example.net", reason="complaint"))
    session.flush()
    assert people.unsuppress(session, "anna@example.net") is None
    assert [s.email for s in session.scalars(select(Suppression))] == ["other@example.net"]
