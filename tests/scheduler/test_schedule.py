"""The schedule as data: entries from settings, and fire times across Kyiv's DST changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from celery.schedules import crontab

from scheduler import schedule as sch
from tests.conftest import make_settings
from worker.celery_app import app, configure

KYIV = ZoneInfo("Europe/Kyiv")


def kyiv(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=KYIV)


def fires(start: datetime, at: time, n: int) -> list[str]:
    out, t = [], start
    for _ in range(n):
        t = sch.next_fire(t, at, KYIV)
        out.append(t.astimezone(KYIV).isoformat())
    return out


def test_send_time_stays_seven_local_across_spring_change() -> None:
    # 2026-03-29: 03:00 -> 04:00, offset +02:00 -> +03:00; 07:00 local moves from 05:00 to 04:00 UTC
    got = fires(kyiv("2026-03-27T12:00"), time(7, 0), 4)
    assert got == [
        "2026-03-28T07:00:00+02:00",
        "2026-03-29T07:00:00+03:00",
        "2026-03-30T07:00:00+03:00",
        "2026-03-31T07:00:00+03:00",
    ]
    first, second = (datetime.fromisoformat(s) for s in got[:2])
    assert second - first == timedelta(hours=23)  # the short day


def test_send_time_stays_seven_local_across_autumn_change() -> None:
    got = fires(kyiv("2026-10-23T12:00"), time(7, 0), 3)
    assert got == [
        "2026-10-24T07:00:00+03:00",
        "2026-10-25T07:00:00+02:00",
        "2026-10-26T07:00:00+02:00",
    ]
    first, second = (datetime.fromisoformat(s) for s in got[:2])
    assert second - first == timedelta(hours=25)  # the long day


def test_times_inside_the_gap_and_the_fold() -> None:
    # 03:30 does not exist on 2026-03-29: fires once, at 04:30 local (01:30 UTC)
    spring = fires(kyiv("2026-03-28T12:00"), time(3, 30), 2)
    assert spring == ["2026-03-29T04:30:00+03:00", "2026-03-30T03:30:00+03:00"]
    # 03:30 happens twice on 2026-10-25: fires once, on the first (00:30 UTC)
    autumn = [datetime.fromisoformat(s) for s in fires(kyiv("2026-10-24T12:00"), time(3, 30), 2)]
    assert autumn[0].astimezone(UTC) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert autumn[1].astimezone(UTC) == datetime(2026, 10, 26, 1, 30, tzinfo=UTC)


@pytest.mark.parametrize("start", ["2026-03-26T08:00", "2026-10-22T08:00"])
@pytest.mark.parametrize(
    "at", [time(7, 0), time(6, 45), time(3, 30), time(3, 0), time(4, 0), time(0, 5), time(23, 50)]
)
def test_celery_crontab_agrees_with_next_fire(tmp_path: Path, start: str, at: time) -> None:
    """Beat itself (crontab read in the app timezone) fires at the same instants, 6 days running."""
    configure(make_settings(tmp_path, timezone="Europe/Kyiv"))
    ours = theirs = kyiv(start)
    for _ in range(6):
        ours = sch.next_fire(ours, at, KYIV)
        entry = crontab(hour=at.hour, minute=at.minute, app=app)
        theirs = sch.celery_next_fire(entry, theirs, KYIV)
        assert theirs == ours, f"{at} after {start}"


def test_previous_fire_and_days() -> None:
    s = make_settings(Path("/nonexistent"), send_time=time(7, 0))
    at_six = kyiv("2026-03-29T06:59")
    assert sch.previous_fire(at_six, time(7, 0), KYIV) == kyiv("2026-03-28T07:00")
    assert sch.previous_fire(kyiv("2026-03-29T07:00"), time(7, 0), KYIV) == kyiv("2026-03-29T07:00")
    assert sch.send_day(s, kyiv("2026-03-29T07:00:01")) == date(2026, 3, 29)
    assert sch.send_day(s, kyiv("2026-03-29T06:58")) == date(2026, 3, 29)  # 5-minute slack
    assert sch.send_day(s, kyiv("2026-03-29T06:00")) == date(2026, 3, 28)
    assert sch.build_day(s, kyiv("2026-03-29T06:45")) == date(2026, 3, 29)


def test_build_before_a_send_just_after_midnight_is_for_the_next_day() -> None:
    s = make_settings(Path("/nonexistent"), send_time=time(0, 5), build_lead_minutes=15)
    assert sch.build_time(s) == time(23, 50)
    assert sch.build_day(s, kyiv("2026-11-26T23:50")) == date(2026, 11, 27)


def test_beat_schedule_from_settings() -> None:
    s = make_settings(
        Path("/nonexistent"),
        send_time=time(7, 30),
        build_lead_minutes=20,
        collect_every_minutes=10,
        beat_heartbeat_seconds=0,
    )
    entries = sch.beat_schedule(s)
    assert sch.HEARTBEAT not in entries
    by_task = {e["task"]: e for e in entries.values()}
    assert set(by_task) == {
        "collect.all",
        "audio.podcasts",
        "audio.upgrade_fallbacks",
        "schedule.build_digest",
        "schedule.send_digest",
        "schedule.catch_up",
        "digest.reconcile",
        "delivery.partitions",
    }
    # a registered task (a typo would fail in the worker only, months later)
    from worker.celery_app import app

    app.loader.import_default_modules()
    assert "delivery.partitions" in app.tasks
    send = by_task["schedule.send_digest"]["schedule"]
    build = by_task["schedule.build_digest"]["schedule"]
    assert (send.hour, send.minute) == ({7}, {30})
    assert (build.hour, build.minute) == ({7}, {10})
    collect = by_task["collect.all"]["schedule"]
    assert collect.minute == {0, 10, 20, 30, 40, 50}
    assert collect.hour == set(range(24))
    # the daily send expires at the end of the grace window; catch-up decides after that
    assert by_task["schedule.send_digest"]["options"]["expires"] == 3 * 3600
    catch_up = by_task["schedule.catch_up"]["schedule"]
    assert 30 not in catch_up.minute  # never on the send minute itself
    with_heartbeat = sch.beat_schedule(make_settings(Path("/x"), beat_heartbeat_seconds=1))
    assert with_heartbeat[sch.HEARTBEAT]["schedule"].run_every == timedelta(seconds=1)


def test_collect_every_non_divisor_wraps_per_hour() -> None:
    s = make_settings(Path("/nonexistent"), collect_every_minutes=25)
    assert sch.beat_schedule(s)[sch.COLLECT]["schedule"].minute == {0, 25, 50}


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError):
        sch.next_fire(datetime(2026, 1, 1), time(7, 0), KYIV)
    with pytest.raises(ValueError):
        sch.previous_fire(datetime(2026, 1, 1), time(7, 0), KYIV)


@pytest.mark.parametrize(
    ("last_run", "expected"),
    [
        ("2026-10-24T07:00:00", "2026-10-25T07:00:00+02:00"),  # the long day
        ("2026-03-28T07:00:00", "2026-03-29T07:00:00+03:00"),  # the short day
        ("2026-11-26T07:00:00", "2026-11-27T07:00:00+02:00"),
    ],
)
def test_redbeat_due_time_is_dst_correct(tmp_path: Path, last_run: str, expected: str) -> None:
    """The score redbeat keeps in Redis (when beat picks the entry up) is the real next fire.

    Upstream redbeat 2.4 adds the remaining time as wall-clock time and gets 08:00 on
    2026-10-25 and 06:00 on 2026-03-29; DSTSafeEntry does not.
    """
    from scheduler.beat import DSTSafeEntry

    configure(make_settings(tmp_path, timezone="Europe/Kyiv"))
    # read by redbeat's config object only; nothing connects
    app.conf.update(redbeat_redis_url="redis://127.0.0.1:6379/0", redbeat_redis_options={})
    ran = kyiv(last_run)
    entry = DSTSafeEntry(
        name="digest-send",
        task="schedule.send_digest",
        schedule=crontab(hour=7, minute=0, app=app, nowfun=lambda: ran),
        app=app,
    )
    entry.last_run_at = ran
    due = entry.due_at
    assert due is not None
    assert due == datetime.fromisoformat(expected)
    assert due == sch.next_fire(ran, time(7, 0), KYIV)
