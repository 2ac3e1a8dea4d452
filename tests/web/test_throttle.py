"""Subscribe throttles: the moving window, Redis shared by processes, the memory fallback, and
the two limits through the app (per client address, per recipient with the same answer)."""

from __future__ import annotations

import mailbox
import re
import time

import pytest
from fastapi.testclient import TestClient
from limits.storage import MemoryStorage, RedisStorage

from web.app import create_app
from web.throttle import (
    KEY_PREFIX,
    WindowThrottle,
    client_key,
    recipient_key,
    throttle_storage,
)
from worker.settings import Settings


def test_moving_window_in_memory() -> None:
    throttle = WindowThrottle(MemoryStorage(), "t", limit=2, window_seconds=1)
    assert throttle.hit("a") == 0 and throttle.hit("a") == 0
    assert throttle.hit("a") >= 1  # seconds to wait, rounded up to at least one
    assert throttle.hit("b") == 0  # another key, another count
    time.sleep(1.2)
    assert throttle.hit("a") == 0


def test_redis_is_shared_by_processes(redis_url: str) -> None:
    """Two throttles on their own connections (as two processes have) share one count."""
    one = WindowThrottle(RedisStorage(redis_url, key_prefix=KEY_PREFIX), "t", 3, 60)
    two = WindowThrottle(RedisStorage(redis_url, key_prefix=KEY_PREFIX), "t", 3, 60)
    assert [one.hit("k"), two.hit("k"), one.hit("k")] == [0, 0, 0]
    assert two.hit("k") > 0 and one.hit("k") > 0
    import redis

    client = redis.Redis.from_url(redis_url)
    assert any(k.startswith(KEY_PREFIX.encode()) for k in client.keys("*"))
    client.close()


def test_redis_down_counts_in_memory_meanwhile(settings: Settings) -> None:
    down = settings.model_copy(update={"broker_url": "redis://127.0.0.1:1/0"})
    storage = throttle_storage(down)
    assert isinstance(storage, RedisStorage)
    throttle = WindowThrottle(storage, "t", limit=1, window_seconds=60)
    assert throttle.hit("k") == 0  # no exception, no 500: counted in this process
    assert throttle.hit("k") > 0


def test_embedded_mode_counts_in_memory(settings: Settings) -> None:
    assert isinstance(throttle_storage(settings), MemoryStorage)


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:bbbb::9", "2001:db8:1:2::/64"),  # the same household
        ("::ffff:203.0.113.7", "203.0.113.7"),
        (None, "unknown"),
        ("testclient", "testclient"),
    ],
)
def test_client_keys(host: str | None, key: str) -> None:
    assert client_key(host) == key


def test_recipient_keys_hide_the_address(settings: Settings) -> None:
    key = recipient_key(settings, "reader@example.org")
    assert "reader" not in key and len(key) == 32
    assert key == recipient_key(settings, "reader@example.org")
    assert key != recipient_key(settings, "other@example.org")


def _token(client: TestClient) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/subscribe").text)
    assert found is not None
    return found.group(1)


def test_at_most_three_mails_per_address_and_the_same_answer(web_settings: Settings) -> None:
    s = web_settings.model_copy(update={"subscribe_rate_limit": 100})
    with TestClient(create_app(s), base_url="https://daily.example.org") as c:
        token = _token(c)
        answers = [
            c.post("/subscribe", data={"email": "target@example.org", "csrf_token": token})
            for _ in range(6)
        ]
        other = c.post("/subscribe", data={"email": "other@example.org", "csrf_token": token})
    assert {r.status_code for r in answers} == {200}
    assert len({r.text for r in answers}) == 1  # nothing tells the 4th post from the 1st
    assert other.status_code == 200
    box = mailbox.Maildir(str(s.outbox_dir), create=True)
    recipients = [box.get_message(k)["To"] for k in box.keys()]  # noqa: SIM118
    assert recipients.count("target@example.org") == s.subscribe_recipient_limit == 3
    assert recipients.count("other@example.org") == 1
