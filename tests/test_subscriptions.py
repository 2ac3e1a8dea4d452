"""worker/subscriptions.py: who is on which newsletter (ask, confirm, join, leave; SQLite)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.models import Subscriber, SubscriberState, Subscription
from worker.subscriptions import ask, asked, confirm_asked, join, leave, receives, slugs_of


def person(session: Session, email: str = "reader@example.net") -> int:
    sub = Subscriber(email=email, domain=email.split("@")[1], state=SubscriberState.active)
    session.add(sub)
    session.flush()
    return sub.id


def row(session: Session, sid: int, slug: str) -> Subscription:
    found = session.scalar(
        select(Subscription).where(
            Subscription.subscriber_id == sid, Subscription.newsletter == slug
        )
    )
    assert found is not None
    return found


def test_join_puts_them_on_at_once_and_returns_only_the_new(session: Session) -> None:
    sid = person(session)
    assert join(session, sid, ["daily", "weekly", "daily"]) == ["daily", "weekly"]
    assert join(session, sid, ["weekly", "ukrainian"]) == ["ukrainian"]
    assert slugs_of(session, sid) == ["daily", "weekly", "ukrainian"]
    assert asked(session, sid) == []


def test_nothing_to_join(session: Session) -> None:
    sid = person(session)
    assert join(session, sid, []) == []
    assert slugs_of(session, sid) == []


def test_ask_changes_nothing_until_confirmed(session: Session) -> None:
    sid = person(session)
    ask(session, sid, ["daily", "weekly", "weekly"])
    assert slugs_of(session, sid) == []
    assert sorted(asked(session, sid)) == ["daily", "weekly"]
    assert confirm_asked(session, sid) == ["daily", "weekly"]
    assert slugs_of(session, sid) == ["daily", "weekly"]
    assert asked(session, sid) == []
    assert confirm_asked(session, sid) == []  # the link used twice: nothing new to welcome


def test_asking_for_one_already_on_keeps_it(session: Session) -> None:
    sid = person(session)
    join(session, sid, ["daily"])
    ask(session, sid, ["daily", "weekly"])
    assert slugs_of(session, sid) == ["daily"]
    assert asked(session, sid) == ["weekly"]
    assert confirm_asked(session, sid) == ["weekly"]  # daily is not welcomed again


def test_leave_one_keeps_the_others(session: Session) -> None:
    sid = person(session)
    join(session, sid, ["daily", "weekly"])
    assert leave(session, sid, "daily") is True
    assert slugs_of(session, sid) == ["weekly"]
    assert row(session, sid, "daily").left_at is not None
    assert leave(session, sid, "daily") is False  # already left
    assert leave(session, sid, "never-joined") is False


def test_a_left_newsletter_asked_again_stays_left_until_confirmed(session: Session) -> None:
    sid = person(session)
    join(session, sid, ["daily"])
    leave(session, sid, "daily")
    ask(session, sid, ["daily"])
    assert slugs_of(session, sid) == []
    assert asked(session, sid) == ["daily"]
    assert confirm_asked(session, sid) == ["daily"]
    again = row(session, sid, "daily")
    assert again.left_at is None and again.confirmed_at is not None and again.welcomed_at is None
    assert session.scalars(select(Subscription)).all() == [again]  # one row per newsletter


def test_rejoining_resets_the_welcome(session: Session) -> None:
    sid = person(session)
    join(session, sid, ["daily"])
    first = row(session, sid, "daily")
    first.welcomed_at = first.confirmed_at
    leave(session, sid, "daily")
    assert join(session, sid, ["daily"]) == ["daily"]
    assert row(session, sid, "daily").welcomed_at is None  # welcomed again when back


def test_people_do_not_share_rows(session: Session) -> None:
    a, b = person(session, "a@example.net"), person(session, "b@example.org")
    join(session, a, ["daily"])
    ask(session, b, ["daily"])
    assert slugs_of(session, a) == ["daily"] and slugs_of(session, b) == []
    assert asked(session, a) == [] and asked(session, b) == ["daily"]


def test_receives_is_the_fan_outs_filter(session: Session) -> None:
    on = person(session, "on@example.net")
    asked_only = person(session, "asked@example.net")
    left = person(session, "left@example.net")
    other = person(session, "other@example.net")
    join(session, on, ["daily"])
    ask(session, asked_only, ["daily"])
    join(session, left, ["daily"])
    leave(session, left, "daily")
    join(session, other, ["weekly"])
    emails = session.scalars(
        select(Subscriber.email).where(receives("daily")).order_by(Subscriber.email)
    ).all()
    assert emails == ["on@example.net"]
    weekly = session.scalars(select(Subscriber.email).where(receives("weekly"))).all()
    assert weekly == ["other@example.net"]
