"""worker/edition/lookup.py: how an edition is keyed, found and locked (real SQLite)."""

from __future__ import annotations

from datetime import date

from worker import db
from worker.edition.lookup import DEFAULT_SLUG, PUBLISHED, edition_path, find, lock
from worker.models import Digest, DigestState
from worker.settings import Settings

DAY = date(2026, 11, 27)


def test_edition_path_keeps_the_plain_day_for_the_default_newsletter() -> None:
    assert edition_path(DEFAULT_SLUG, DAY) == "2026-11-27"
    assert edition_path("weekly", DAY) == "weekly/2026-11-27"


def test_published_states_exclude_built_held_and_stopped_editions() -> None:
    assert DigestState.sent in PUBLISHED and DigestState.paused in PUBLISHED
    assert DigestState.built not in PUBLISHED and DigestState.cancelled not in PUBLISHED


def test_find_by_bare_date_means_the_default_newsletter(settings: Settings) -> None:
    with db.session_scope(settings) as session:
        session.add(Digest(newsletter="weekly", date=DAY, subject="weekly"))
        session.add(Digest(newsletter=DEFAULT_SLUG, date=DAY, subject="daily"))
    with db.session_scope(settings) as session:
        daily = find(session, DAY)
        weekly = find(session, ("weekly", DAY))
        assert daily is not None and daily.subject == "daily"
        assert weekly is not None and weekly.subject == "weekly"
        by_id = find(session, weekly.id)
        assert by_id is not None and by_id.newsletter == "weekly"
        assert find(session, ("weekly", date(2026, 11, 28))) is None
        assert find(session, 10_000) is None


def test_lock_creates_a_built_edition_only_when_asked(settings: Settings) -> None:
    with db.session_scope(settings) as session:
        assert lock(session, ("weekly", DAY)) is None
        created = lock(session, ("weekly", DAY), create=True)
        assert created is not None
        assert (created.newsletter, created.date, created.state) == ("weekly", DAY, "built")
    with db.session_scope(settings) as session:
        again = lock(session, ("weekly", DAY), create=True)  # the same row, not a second one
        assert again is not None and again.id == created.id
        assert lock(session, 10_000, create=True) is None  # an id names no day to create
        assert session.query(Digest).count() == 1
