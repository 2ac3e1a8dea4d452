"""worker/listens.py: beacons parsed, counted and summed (SQLite)."""

from __future__ import annotations

import json
from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.digest.conftest import DAY, Factory, kyiv
from worker import listens
from worker.listens import Beacon
from worker.models import Digest, ListenCount


def body(**fields: object) -> bytes:
    return json.dumps(fields).encode()


# ---------------------------------------------------------------- parse_beacon
@pytest.mark.parametrize("kind", listens.KINDS)
@pytest.mark.parametrize("event", listens.EVENTS)
def test_every_kind_and_event_is_a_beacon(kind: str, event: str) -> None:
    assert listens.parse_beacon(body(kind=kind, id=7, event=event)) == Beacon(kind, 7, event)


def test_extra_fields_are_ignored() -> None:
    parsed = listens.parse_beacon(body(kind="article", id=1, event="play", who="a@b.c"))
    assert parsed == Beacon("article", 1, "play")


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b"\xff\xfe",
        b"[1, 2]",
        b'"article"',
        body(kind="podcast", id=1, event="play"),
        body(kind="article", id=1, event="90"),
        body(kind="article", id=1, event=25),
        body(kind="article", id="1", event="play"),
        body(kind="article", id=True, event="play"),
        body(kind="article", id=1.5, event="play"),
        body(kind="article", id=0, event="play"),
        body(kind="article", id=-3, event="play"),
        body(kind="article", id=listens.MAX_TARGET_ID + 1, event="play"),
        body(kind="article", event="play"),
    ],
)
def test_what_is_not_a_beacon(raw: bytes) -> None:
    assert listens.parse_beacon(raw) is None


def test_the_largest_id_is_one() -> None:
    beacon = listens.parse_beacon(body(kind="edition", id=listens.MAX_TARGET_ID, event="100"))
    assert beacon == Beacon("edition", listens.MAX_TARGET_ID, "100")


def test_a_body_over_the_limit_is_refused_at_the_limit_accepted() -> None:
    valid = body(kind="article", id=1, event="play")
    at_limit = valid + b" " * (listens.MAX_BEACON_BYTES - len(valid))
    assert len(at_limit) == listens.MAX_BEACON_BYTES
    assert listens.parse_beacon(at_limit) == Beacon("article", 1, "play")
    assert listens.parse_beacon(at_limit + b" ") is None


# ---------------------------------------------------------------- the database
def counts(session: Session) -> dict[tuple[str, int, str], int]:
    rows = session.execute(
        select(ListenCount.kind, ListenCount.target_id, ListenCount.event, ListenCount.count)
    ).all()
    return {(k, t, e): c for k, t, e, c in rows}


def test_record_creates_the_row_then_counts_on_it(session: Session) -> None:
    play = Beacon("article", 5, "play")
    listens.record(session, play)
    listens.record(session, play)
    listens.record(session, Beacon("article", 5, "25"))
    listens.record(session, Beacon("edition", 5, "play"))
    assert counts(session) == {
        ("article", 5, "play"): 2,
        ("article", 5, "25"): 1,
        ("edition", 5, "play"): 1,
    }


def test_record_keeps_the_callers_earlier_work(session: Session) -> None:
    # the first beacon's insert is a savepoint: it must not roll back what came before it
    session.add(Digest(date=DAY, subject="kept"))
    listens.record(session, Beacon("article", 1, "play"))
    session.commit()
    assert session.scalar(select(Digest.subject)) == "kept"


def test_target_exists(session: Session) -> None:
    f = Factory(session)
    article = f.article("A story", kyiv(DAY, 6))
    digest = Digest(date=DAY, subject="Daily")
    session.add(digest)
    session.flush()
    assert listens.target_exists(session, Beacon("article", article.id, "play"))
    assert not listens.target_exists(session, Beacon("article", article.id + 100, "play"))
    assert listens.target_exists(session, Beacon("edition", digest.id, "play"))
    assert listens.target_exists(session, Beacon("briefing", digest.id, "play"))
    assert not listens.target_exists(session, Beacon("edition", digest.id + 100, "play"))


def test_summary_and_total_of_nothing(session: Session) -> None:
    assert listens.summary(session) == []
    assert listens.total_plays(session) == 0


def test_summary_orders_by_plays_then_newest_and_names_each(session: Session) -> None:
    f = Factory(session)
    older = f.article("Older story", kyiv(DAY, 5))
    newer = f.article("Newer story", kyiv(DAY, 6))
    digest = Digest(date=date(2026, 11, 26), subject="Daily")
    session.add(digest)
    session.flush()
    for beacon, times in [
        (Beacon("article", older.id, "play"), 2),
        (Beacon("article", older.id, "50"), 1),
        (Beacon("article", newer.id, "play"), 2),
        (Beacon("edition", digest.id, "play"), 3),
        (Beacon("briefing", digest.id, "100"), 1),  # quartiles without a play: 0 plays
        (Beacon("article", 999_999, "play"), 1),  # gone since: no title
    ]:
        for _ in range(times):
            listens.record(session, beacon)

    found = listens.summary(session)
    assert [(r["kind"], r["id"]) for r in found] == [
        ("edition", digest.id),
        ("article", newer.id),  # a tie on plays: the newer id first
        ("article", older.id),
        ("article", 999_999),
        ("briefing", digest.id),
    ]
    assert found[0]["title"] == "2026-11-26"
    assert found[1]["title"] == "Newer story"
    assert found[2] == {
        "kind": "article",
        "id": older.id,
        "title": "Older story",
        "plays": 2,
        "25%": 0,
        "50%": 1,
        "75%": 0,
        "100%": 0,
    }
    assert found[3]["title"] == ""
    assert found[4]["plays"] == 0 and found[4]["100%"] == 1
    assert [r["id"] for r in listens.summary(session, limit=2)] == [digest.id, newer.id]
    assert listens.total_plays(session) == 2 + 2 + 3 + 1  # plays only, every kind
