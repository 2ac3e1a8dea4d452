"""Auto-pause's window: shared through the broker's Redis (any of its URL schemes), in-process
without one, and the pure judgement over it."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import make_settings
from worker.delivery import autopause
from worker.delivery.autopause import LocalWindow, RedisWindow, judge
from worker.outage import redis_client


def test_judge_trips_only_on_a_full_window_past_the_rate() -> None:
    assert not judge(ok=10, bad=90, window=200, rate=0.5).trip  # 100 attempts: too few to judge
    assert not judge(ok=100, bad=100, window=200, rate=0.5).trip  # exactly half is not above it
    verdict = judge(ok=90, bad=110, window=200, rate=0.5)
    assert verdict.trip and "110 of the last 200 attempts failed" in verdict.reason
    assert not judge(ok=0, bad=200, window=200, rate=0).trip  # 0 turns auto-pause off


def test_window_is_in_process_without_a_redis_broker(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, broker_url=None, auto_pause_window=5)
    window = autopause.window(settings)
    assert isinstance(window, LocalWindow)
    assert autopause.window(settings) is window  # one per process and size
    window.reset(1)
    assert window.add(1, 4, 0) == (4, 0)
    assert window.add(1, 0, 2) == (4, 2)
    assert window.add(1, 0, 3) == (0, 5)  # only the newest tallies that reach 5 messages count
    window.reset(1)
    assert window.add(1, 0, 0) == (0, 0)


def test_window_is_shared_through_the_broker_redis(tmp_path: Path, redis_url: str) -> None:
    settings = make_settings(tmp_path, broker_url=redis_url, auto_pause_window=200)
    window = autopause.window(settings)
    assert isinstance(window, RedisWindow)
    other_worker = RedisWindow(redis_client(redis_url), 200)
    window.add(7, 50, 10)
    assert other_worker.add(7, 40, 100) == (90, 110)  # both workers' attempts, one window
    other_worker.reset(7)
    assert window.add(7, 0, 0) == (0, 0)


def test_a_unix_socket_broker_is_redis_too(tmp_path: Path) -> None:
    # no connection is made until the window is used: the URL alone decides the kind
    settings = make_settings(tmp_path, broker_url="unix:///tmp/no-such-redis.sock")
    assert isinstance(autopause.window(settings), RedisWindow)
