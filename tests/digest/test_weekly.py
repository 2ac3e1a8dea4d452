"""worker/digest/weekly.py: a weekly edition's stories, ranked, without claiming them."""

from __future__ import annotations

from dataclasses import replace
from datetime import time, timedelta

from sqlalchemy.orm import Session

from tests.digest.conftest import DAY, Factory, kyiv
from worker.digest.weekly import select_week
from worker.digest.window import Window
from worker.listens import Beacon, record
from worker.models import Article, Digest, SourceKind
from worker.newsletters import Newsletter

WEEKLY = Newsletter(slug="weekly", name="Weekly", language=None, send_time=time(9), weekday=5)
END = kyiv(DAY, 7)
WEEK = Window(start=END - timedelta(days=7), end=END, start_inclusive=False)


def titles(articles: list[Article]) -> list[str]:
    return [a.title for a in articles]


def test_an_empty_week(session: Session) -> None:
    selection = select_week(session, WEEKLY, WEEK)
    assert selection.empty and selection.window == WEEK


def test_the_window_bounds_start_excluded_end_included(factory: Factory) -> None:
    factory.article("At the start", WEEK.start)
    factory.article("At the end", WEEK.end)
    factory.article("Just after", WEEK.end + timedelta(seconds=1))
    factory.article("Mid-week", WEEK.start + timedelta(days=3))
    found = select_week(factory.session, WEEKLY, WEEK)
    assert sorted(titles(found.articles)) == ["At the end", "Mid-week"]
    assert found.feed_items == [] and found.picks == []


def test_editors_order_picks_first_then_the_longest_then_newer(factory: Factory) -> None:
    day = WEEK.start + timedelta(days=2)
    factory.article("Short", day, words=100)
    factory.article("Long", day, words=2000)
    factory.article("Pick, short", day, words=10, pick=True)
    factory.article("Medium, older", day, words=600)
    factory.article("Medium, newer", day + timedelta(hours=1), words=600)
    found = select_week(factory.session, WEEKLY, WEEK)
    assert titles(found.articles) == [
        "Pick, short",
        "Long",
        "Medium, newer",
        "Medium, older",
        "Short",
    ]


def test_only_the_top_n(factory: Factory) -> None:
    for n in range(5):
        factory.article(f"Story {n}", WEEK.start + timedelta(hours=n + 1), words=100 + n)
    found = select_week(factory.session, replace(WEEKLY, top=2), WEEK)
    assert titles(found.articles) == ["Story 4", "Story 3"]


def test_stories_already_in_a_daily_edition_are_read_not_claimed(factory: Factory) -> None:
    session = factory.session
    daily = Digest(date=DAY, subject="Daily")
    session.add(daily)
    session.flush()
    claimed = factory.article("Claimed by a daily", WEEK.start + timedelta(days=1))
    claimed.digest_id = daily.id
    session.flush()
    found = select_week(session, WEEKLY, WEEK)
    assert titles(found.articles) == ["Claimed by a daily"]
    assert claimed.digest_id == daily.id  # the roundup leaves the claim alone


def test_by_listens_plays_first_then_the_editors_order(factory: Factory) -> None:
    session = factory.session
    day = WEEK.start + timedelta(days=2)
    long = factory.article("Long, no plays", day, words=2000)
    medium = factory.article("Medium, 2 plays", day, words=600)
    short = factory.article("Short, 2 plays", day, words=100)
    loved = factory.article("Short, 5 plays", day, words=50)
    for article, plays in ((medium, 2), (short, 2), (loved, 5)):
        for _ in range(plays):
            record(session, Beacon("article", article.id, "play"))
    for _ in range(9):  # quartiles and other kinds are not plays of an article
        record(session, Beacon("article", long.id, "50"))
        record(session, Beacon("edition", long.id, "play"))
    ranked = select_week(session, replace(WEEKLY, rank_by="listens"), WEEK)
    assert titles(ranked.articles) == [
        "Short, 5 plays",
        "Medium, 2 plays",  # a tie: the editors' order (longer first)
        "Short, 2 plays",
        "Long, no plays",
    ]
    editors = select_week(session, WEEKLY, WEEK)
    assert titles(editors.articles)[0] == "Long, no plays"


def test_only_the_newsletters_sources(factory: Factory) -> None:
    day = WEEK.start + timedelta(days=1)
    factory.article("A story", day)
    factory.article("A pick", day, pick=True)
    factory.source(SourceKind.editors_picks).language = "uk"
    factory.session.flush()
    picks_only = replace(WEEKLY, source_kinds=("editors-picks",))
    assert titles(select_week(factory.session, picks_only, WEEK).articles) == ["A pick"]
    english = replace(WEEKLY, source_languages=("en",))
    assert titles(select_week(factory.session, english, WEEK).articles) == ["A story"]
