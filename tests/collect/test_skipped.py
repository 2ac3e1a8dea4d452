"""worker/collect/skipped.py: entries that could not be stored, kept for ops (SQLite)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.collect import skipped
from worker.collect.items import SkippedEntry
from worker.models import SkippedItem, Source, SourceKind

T0 = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)


def source(session: Session, name: str = "Kyiv Feed") -> int:
    row = Source(
        name=name, url=f"https://{name.split()[0].lower()}.example/feed", kind=SourceKind.articles
    )
    session.add(row)
    session.flush()
    return row.id


def entry(guid: str, reason: str = "too long", title: str = "A title") -> SkippedEntry:
    return SkippedEntry(guid=guid, title=title, url=f"https://n.example/{guid}", reason=reason)


def rows(session: Session) -> dict[str, SkippedItem]:
    return {r.guid: r for r in session.scalars(select(SkippedItem))}


def test_a_new_skip_is_recorded_once(session: Session) -> None:
    sid = source(session)
    skipped.record(session, sid, [entry("g1")], [], T0)
    (row,) = rows(session).values()
    assert (row.source_id, row.guid, row.times, row.reason) == (sid, "g1", 1, "too long")
    assert row.first_seen_at == row.last_seen_at == T0
    assert row.url == "https://n.example/g1"


def test_skipped_again_bumps_times_and_last_seen_keeps_first_seen(session: Session) -> None:
    sid = source(session)
    skipped.record(session, sid, [entry("g1", "old reason")], [], T0)
    later = T0 + timedelta(hours=1)
    skipped.record(session, sid, [entry("g1", "new reason", title="New title")], [], later)
    row = rows(session)["g1"]
    assert row.times == 2
    assert row.first_seen_at == T0 and row.last_seen_at == later
    assert (row.reason, row.title) == ("new reason", "New title")


def test_stored_now_forgets_the_row_of_that_source_only(session: Session) -> None:
    a, b = source(session, "A feed"), source(session, "B feed")
    skipped.record(session, a, [entry("g1"), entry("g2")], [], T0)
    skipped.record(session, b, [entry("g1")], [], T0)
    skipped.record(session, a, [], ["g1"], T0)
    left = [(r.source_id, r.guid) for r in session.scalars(select(SkippedItem))]
    assert sorted(left) == sorted([(a, "g2"), (b, "g1")])


def test_a_guid_both_skipped_and_stored_stays_skipped(session: Session) -> None:
    sid = source(session)
    skipped.record(session, sid, [entry("g1")], ["g1"], T0)
    assert list(rows(session)) == ["g1"]


def test_more_stored_guids_than_one_chunk(session: Session) -> None:
    sid = source(session)
    skipped.record(session, sid, [entry(f"g{n}") for n in range(1200)], [], T0)
    skipped.record(session, sid, [], [f"g{n}" for n in range(1, 1200)], T0)
    assert list(rows(session)) == ["g0"]


def test_control_characters_are_cleaned_and_long_text_bounded(session: Session) -> None:
    sid = source(session)
    skipped.record(
        session,
        sid,
        [entry("g1", reason="bad\x00 " + "r" * 2000, title="T\x07" + "t" * 500)],
        [],
        T0,
    )
    row = rows(session)["g1"]
    assert "\x00" not in row.reason and "\x07" not in row.title
    assert len(row.reason) <= 1000 and len(row.title) <= 300


def test_counts_per_source(session: Session) -> None:
    assert skipped.counts(session) == {}
    a, b = source(session, "A feed"), source(session, "B feed")
    skipped.record(session, a, [entry("1"), entry("2")], [], T0)
    skipped.record(session, b, [entry("1")], [], T0)
    assert skipped.counts(session) == {a: 2, b: 1}


def test_recent_is_newest_first_json_safe_and_limited(session: Session) -> None:
    sid = source(session)
    for n in range(3):
        skipped.record(session, sid, [entry(f"g{n}")], [], T0 + timedelta(minutes=n))
    found = skipped.recent(session, limit=2)
    assert [r["url"] for r in found] == ["https://n.example/g2", "https://n.example/g1"]
    assert found[0]["source"] == "Kyiv Feed"
    assert found[0]["last_seen_at"] == (T0 + timedelta(minutes=2)).isoformat()
    assert found[0]["times"] == 1
    assert skipped.recent(session) and len(skipped.recent(session)) == 3
