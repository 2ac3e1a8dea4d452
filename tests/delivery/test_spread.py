"""SEND_SPREAD_MINUTES: the pace's arithmetic, its slots shared through real Redis by several
workers, and on a real cluster (two worker processes, a recording SMTP server) an edition of
200 spread over 12 s, paused and resumed half-way: every subscriber once, nothing while
paused, and no burst. Bounds are generous and one-sided where timing is concerned (a slow
machine makes a spread send longer, never faster)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_settings
from tests.delivery.faults import drain, prepare, sent, wait_until_sent
from tests.delivery.helpers import DAY
from tests.delivery.test_faults import make_cluster
from worker import db
from worker.delivery import spread
from worker.edition import lifecycle
from worker.outage import redis_client

__all__ = ["make_cluster"]  # the fixture, shared with the fault tests


def test_interval_is_the_window_over_the_edition() -> None:
    assert spread.interval_seconds(10, 600) == 1.0
    assert spread.interval_seconds(0, 600) == 0.0  # not spread
    assert spread.interval_seconds(10, 0) == 0.0  # nothing to send


def test_redis_slots_pace_every_worker_together(redis_url: str) -> None:
    # two workers (threads with their own client) taking 30 slots 20 ms apart, one edition
    interval, taken = 0.02, 30
    pacers = [spread.Spread(spread.RedisSlots(redis_client(redis_url), 7, interval))] * 2
    times: list[float] = []

    def work(pacer: spread.Spread) -> None:
        for _ in range(taken // 2):
            assert pacer.wait(lambda: False, lambda: None)
            times.append(time.monotonic())

    threads = [threading.Thread(target=work, args=(p,)) for p in pacers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    times.sort()
    # never faster than the pace, whoever sends (slower only if the machine is busy)
    assert times[-1] - times[0] >= (taken - 1) * interval * 0.9
    # another edition has its own pace: its first slot is free at once
    assert spread.RedisSlots(redis_client(redis_url), 8, 60.0).take() == 0.0


def test_a_stopped_edition_stops_waiting() -> None:
    slots = spread.LocalSlots(digest_id=-1, interval=60.0)
    pacer = spread.Spread(slots)
    assert pacer.wait(lambda: False, lambda: None)  # the first slot: at once
    kept: list[int] = []
    started = time.monotonic()
    assert not pacer.wait(lambda: True, lambda: kept.append(1))  # next in 60 s: paused
    assert time.monotonic() - started < 5 and kept == [1]


def test_pacer_sizes_the_edition_and_is_off_by_default(tmp_path: Path) -> None:
    s = make_settings(tmp_path, send_spread_minutes=1)
    db.upgrade(s)
    digest_id = prepare(s, 30)
    with db.get_engine(s.database_url).connect() as conn:
        assert spread.edition_size(conn, digest_id) == 30  # before the fan-out: subscribers
        assert isinstance(spread.pacer(s, conn, digest_id), spread.Spread)
        off = s.model_copy(update={"send_spread_minutes": 0})
        assert isinstance(spread.pacer(off, conn, digest_id), spread.NoPacing)


@pytest.mark.slow
@pytest.mark.integration
def test_spread_send_is_even_and_survives_pause_and_resume(make_cluster: Any) -> None:
    window, emails = 12.0, 200  # 60 ms a message, across both workers
    cluster, settings = make_cluster(send_spread_minutes=window / 60)
    digest_id = prepare(settings, emails)
    assert lifecycle.start(settings, DAY, by="test").ok
    wait_until_sent(settings, digest_id, 60, timeout=60)
    paused = lifecycle.pause(settings, DAY, by="test", wait_seconds=10)
    assert paused.ok, paused
    quiet_from = time.time()
    at_pause = sent(settings, digest_id)
    time.sleep(2)
    quiet_until = time.time()
    assert sent(settings, digest_id) == at_pause < emails
    assert lifecycle.resume(settings, DAY, by="test").ok
    result = drain(settings, digest_id, timeout=90)
    assert result["counts"] == {"sent": emails}
    received = cluster.received()
    assert len(received) == emails and set(received.values()) == {1}
    times = sorted(cluster.accepted_times())
    assert not [t for t in times if quiet_from <= t <= quiet_until], "sent while paused"
    # spread: the whole send took at least most of the window (plus the pause) ...
    assert times[-1] - times[0] >= 0.8 * window + 2
    # ... and never came in a burst: no second holds more than twice the pace (16.7/s)
    per_second = Counter(int(t - times[0]) for t in times)
    assert max(per_second.values()) <= 2 * emails / window + 2, per_second
