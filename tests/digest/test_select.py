"""Selection: the window's articles, news items and picks, each claimed by exactly one digest."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.digest.conftest import DAY, Factory, kyiv, sample_day
from worker.digest.build import build_digest
from worker.models import Article, DigestState, FeedItem
from worker.settings import Settings
from worker.storage import LocalStorage


def test_selects_the_window_and_orders_the_lead_first(
    session: Session, settings: Settings, storage: LocalStorage, factory: Factory
) -> None:
    data = sample_day(factory)
    digest = build_digest(session, settings, storage, DAY)
    chosen = session.scalars(
        select(Article).where(Article.digest_id == digest.id, Article.editors_pick.is_(False))
    ).all()
    assert {a.id for a in chosen} == {a.id for a in data["stories"]}
    assert digest.article_count == 6 and digest.feed_item_count == 10
    picks = session.scalars(
        select(Article).where(Article.digest_id == digest.id, Article.editors_pick.is_(True))
    ).all()
    assert {a.id for a in picks} == {a.id for a in data["picks"]}  # one is 3 days old
    for row in data["outside"]:
        assert row.digest_id is None
    # the lead is the longest story with an picture, the subject comes from it
    assert digest.subject == "Inside the night shift in Kharkiv"
    assert digest.state == DigestState.built
    assert digest.window_start == kyiv(DAY - timedelta(days=1), 7)
    assert digest.window_end == kyiv(DAY, 7)


def test_no_item_is_in_two_digests(
    session: Session, settings: Settings, storage: LocalStorage, factory: Factory
) -> None:
    sample_day(factory)
    first = build_digest(session, settings, storage, DAY)
    next_day = DAY + timedelta(days=1)
    factory.article("Next day's story", kyiv(DAY, 12))
    factory.item("Next day's item", kyiv(DAY, 12))
    second = build_digest(session, settings, storage, next_day)
    assert second.window_start == first.window_end
    # the items published after D's send time went to D+1, the rest stayed with D
    late_story = session.scalars(select(Article).where(Article.title.like("Tomorrow%"))).one()
    assert late_story.digest_id == second.id
    # rebuilding D (not sent yet) neither steals D+1's items nor duplicates its own
    build_digest(session, settings, storage, DAY)
    build_digest(session, settings, storage, next_day)
    rows = (
        session.scalars(select(Article.digest_id)).all()
        + session.scalars(select(FeedItem.digest_id)).all()
    )
    assert rows.count(first.id) == 6 + 2 + 10
    # after the send time: a story and an item; and the next day's story and item
    assert rows.count(second.id) == 4
    assert rows.count(None) == 1  # "Yesterday's story" belongs to no window


def test_a_late_item_goes_to_the_next_digest(
    session: Session, settings: Settings, storage: LocalStorage, factory: Factory
) -> None:
    first = build_digest(session, settings, storage, DAY)
    # nothing in it (whether it goes out is the lifecycle's decision: an empty day never does)
    assert (first.article_count, first.feed_item_count, first.pick_count) == (0, 0, 0)
    factory.article("Only story", kyiv(DAY - timedelta(days=1), 9))
    first = build_digest(session, settings, storage, DAY)
    assert first.state == DigestState.built and first.article_count == 1
    first.state = DigestState.sent
    first.built_at = kyiv(DAY, 7)
    # published before D's cut-off but collected after the digest was built
    late = factory.article("Collected late", kyiv(DAY, 6, 50), first_seen=kyiv(DAY, 7, 20))
    stale = factory.article(
        "Old and seen late", kyiv(DAY - timedelta(days=3), 6), first_seen=kyiv(DAY, 8)
    )
    second = build_digest(session, settings, storage, DAY + timedelta(days=1))
    assert late.digest_id == second.id
    assert stale.digest_id is None


def test_a_sent_digest_is_final(
    session: Session, settings: Settings, storage: LocalStorage, factory: Factory
) -> None:
    sample_day(factory)
    digest = build_digest(session, settings, storage, DAY)
    html = storage.read_bytes("digests/2026-11-27/digest.html")
    digest.state = DigestState.sending
    newcomer = factory.article("Arrived during sending", kyiv(DAY, 6, 55))
    again = build_digest(session, settings, storage, DAY)
    assert again.id == digest.id and again.state == DigestState.sending
    assert newcomer.digest_id is None
    assert storage.read_bytes("digests/2026-11-27/digest.html") == html


def test_a_claimed_digest_is_final_too(
    session: Session, settings: Settings, storage: LocalStorage, factory: Factory
) -> None:
    sample_day(factory)
    digest = build_digest(session, settings, storage, DAY)
    email = storage.read_bytes("digests/2026-11-27/email.html")
    digest.send_claimed_at = kyiv(DAY, 7, 1)  # delivery is fanning out; state still `built`
    newcomer = factory.article("Arrived during fan-out", kyiv(DAY, 6, 56))
    build_digest(session, settings, storage, DAY)
    assert newcomer.digest_id is None
    assert storage.read_bytes("digests/2026-11-27/email.html") == email


def test_a_built_digest_is_rebuilt_with_late_items(
    session: Session, settings: Settings, storage: LocalStorage, factory: Factory
) -> None:
    sample_day(factory)
    digest = build_digest(session, settings, storage, DAY)
    newcomer = factory.article("Arrived before sending", kyiv(DAY, 6, 55))
    again = build_digest(session, settings, storage, DAY)
    assert again.id == digest.id and newcomer.digest_id == digest.id
    assert "Arrived before sending" in storage.read_bytes("digests/2026-11-27/digest.txt").decode()


def test_a_day_skipped_by_policy_stays_skipped(
    session: Session, settings: Settings, storage: LocalStorage, factory: Factory
) -> None:
    factory.article("A lone story", kyiv(DAY, 6))
    digest = build_digest(session, settings, storage, DAY)
    digest.state = DigestState.skipped
    digest.skip_reason = "quiet day: 1 stories (< 3) (QUIET_DAY_POLICY=skip)"
    factory.article("Another story", kyiv(DAY, 6, 30))
    again = build_digest(session, settings, storage, DAY)
    assert again.state == DigestState.skipped and again.article_count == 1


@pytest.mark.parametrize(
    ("day", "hours"), [(date(2026, 3, 29), 23), (date(2026, 10, 25), 25)]
)  # fmt: skip
def test_dst_days_select_by_kyiv_wall_clock(
    session: Session,
    settings: Settings,
    storage: LocalStorage,
    factory: Factory,
    day: date,
    hours: int,
) -> None:
    prev = day - timedelta(days=1)
    inside = [
        factory.article("Just after the previous send time", kyiv(prev, 7, 1)),
        factory.item("Night item", kyiv(day, 2, 30)),
        factory.article("Just before the send time", kyiv(day, 6, 59)),
    ]
    outside = [
        factory.article("Before the window", kyiv(prev, 6, 59)),
        factory.item("After the send time", kyiv(day, 7, 1)),
    ]
    digest = build_digest(session, settings, storage, day)
    assert digest.window_end is not None and digest.window_start is not None
    assert (digest.window_end - digest.window_start) == timedelta(hours=hours)
    assert all(row.digest_id == digest.id for row in inside)
    assert all(row.digest_id is None for row in outside)
