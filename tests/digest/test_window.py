"""The digest window: Kyiv wall-clock send times, DST days of 23 and 25 hours, cut-offs."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from worker.digest.window import MAX_WINDOW, digest_window, send_moment

KYIV = ZoneInfo("Europe/Kyiv")
SEVEN = time(7, 0)


def test_first_window_is_the_previous_send_time_to_this_one() -> None:
    w = digest_window(date(2026, 11, 27), SEVEN, KYIV)
    assert w.start == datetime(2026, 11, 26, 5, 0, tzinfo=UTC)  # 07:00 EET = 05:00 UTC
    assert w.end == datetime(2026, 11, 27, 5, 0, tzinfo=UTC)
    assert w.hours == 24
    assert w.start_inclusive
    assert w.contains(w.start) and w.contains(w.end)
    assert not w.contains(w.end + timedelta(seconds=1))


def test_spring_forward_day_has_23_hours() -> None:
    w = digest_window(date(2026, 3, 29), SEVEN, KYIV)
    assert w.start == datetime(2026, 3, 28, 5, 0, tzinfo=UTC)  # 07:00 EET
    assert w.end == datetime(2026, 3, 29, 4, 0, tzinfo=UTC)  # 07:00 EEST
    assert w.hours == 23


def test_fall_back_day_has_25_hours() -> None:
    w = digest_window(date(2026, 10, 25), SEVEN, KYIV)
    assert w.start == datetime(2026, 10, 24, 4, 0, tzinfo=UTC)  # 07:00 EEST
    assert w.end == datetime(2026, 10, 25, 5, 0, tzinfo=UTC)  # 07:00 EET
    assert w.hours == 25


def test_consecutive_windows_across_dst_tile_without_gap_or_overlap() -> None:
    cutoff = None
    day = date(2026, 3, 25)
    windows = []
    while day <= date(2026, 11, 1):
        w = digest_window(day, SEVEN, KYIV, cutoff)
        windows.append(w)
        cutoff = w.end
        day += timedelta(days=1)
    for a, b in pairwise(windows):
        assert b.start == a.end and not b.start_inclusive
        # the instant of a cut-off belongs to exactly one window
        assert a.contains(a.end) and not b.contains(a.end)
    hours = {w.end.astimezone(KYIV).date(): w.hours for w in windows[1:]}
    assert hours[date(2026, 3, 29)] == 23
    assert hours[date(2026, 10, 25)] == 25
    assert {h for d, h in hours.items() if d not in (date(2026, 3, 29), date(2026, 10, 25))} == {24}


def test_window_starts_at_previous_cutoff_when_a_day_was_missed() -> None:
    prev_end = send_moment(date(2026, 11, 25), SEVEN, KYIV)
    w = digest_window(date(2026, 11, 27), SEVEN, KYIV, prev_end)
    assert w.start == prev_end and w.hours == 48 and not w.start_inclusive


def test_window_never_reaches_back_more_than_a_week() -> None:
    long_ago = datetime(2026, 1, 1, tzinfo=UTC)
    w = digest_window(date(2026, 11, 27), SEVEN, KYIV, long_ago)
    assert w.end - w.start == MAX_WINDOW


def test_a_later_cutoff_is_ignored() -> None:
    later = datetime(2026, 12, 1, tzinfo=UTC)
    assert digest_window(date(2026, 11, 27), SEVEN, KYIV, later).hours == 24


def test_send_time_inside_the_spring_gap_maps_forward() -> None:
    # 03:30 does not exist in Kyiv on 2026-03-29 (03:00 -> 04:00)
    moment = send_moment(date(2026, 3, 29), time(3, 30), KYIV)
    assert moment == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # 04:30 EEST
