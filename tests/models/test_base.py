"""The column types every table shares: UTC datetimes and enums stored as their values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import text
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from worker.models import Source, SourceKind
from worker.models.base import UTCDateTime, str_enum

KYIV_WINTER = timezone(timedelta(hours=2))


def test_utc_datetime_refuses_naive_values() -> None:
    with pytest.raises(ValueError, match="naive"):
        UTCDateTime().process_bind_param(datetime(2026, 11, 27, 7, 0), sqlite.dialect())


def test_utc_datetime_stores_the_same_instant_in_utc() -> None:
    stored = UTCDateTime().process_bind_param(
        datetime(2026, 11, 27, 9, 0, tzinfo=KYIV_WINTER), sqlite.dialect()
    )
    assert stored == datetime(2026, 11, 27, 7, 0, tzinfo=UTC)
    assert stored is not None and stored.utcoffset() == timedelta(0)


def test_utc_datetime_reads_naive_values_as_utc() -> None:
    # SQLite hands back naive datetimes
    read = UTCDateTime().process_result_value(datetime(2026, 11, 27, 7, 0), sqlite.dialect())
    assert read == datetime(2026, 11, 27, 7, 0, tzinfo=UTC)
    assert read is not None and read.tzinfo is UTC


def test_str_enum_stores_values_not_names() -> None:
    column = str_enum(SourceKind, "source_kind")
    assert column.enums == ["articles", "news-feed", "editors-picks"]
    assert column.native_enum is False


def test_enum_column_round_trip(session: Session) -> None:
    session.add(Source(name="Feed", url="https://example.org/feed", kind=SourceKind.news_feed))
    session.commit()
    assert session.execute(text("SELECT kind FROM sources WHERE name = 'Feed'")).scalar() == (
        "news-feed"
    )
    assert session.query(Source).filter_by(name="Feed").one().kind is SourceKind.news_feed
