"""Spreading an edition over `SEND_SPREAD_MINUTES` (Ghost's targetDeliveryWindow): one message
of the edition every window / size, whichever worker on whichever host sends it.

The pace is one Redis key per edition holding when its next message may go (a Lua script on
Redis's clock, so workers on several hosts share it; in-process without a broker). It is
pacing, not a burst allowance: a worker that was late, or an edition that was paused, never
catches up by sending a burst, so a pause pushes the end of the window back by its length.
Whether an edition sends at all stays the lifecycle's decision (worker/edition/): a batch
waiting for its turn still looks at the edition's state about once a second and stops when
it is paused or cancelled.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, ClassVar, Protocol

from sqlalchemy import Connection, func, select

from worker.delivery.throttle import RedisGate, limits_redis
from worker.models import Digest, Subscriber, SubscriberState
from worker.settings import Settings

KEY = "digestcast:spread:{digest_id}"
LONGEST_SLEEP = 1.0  # seconds between looks at the edition's state while waiting

# KEYS[1] the edition's next slot (ms, Redis clock); ARGV interval ms. 0 = go, else ms to wait
_NEXT_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local interval = tonumber(ARGV[1])
local nxt = tonumber(redis.call('GET', KEYS[1]) or '0')
if now < nxt then
  return math.ceil(nxt - now)
end
local after = nxt + interval
if now - nxt >= interval then
  after = now + interval
end
redis.call('SET', KEYS[1], tostring(after), 'PX', math.ceil(interval) + 60000)
return 0
"""


def interval_seconds(minutes: float, size: int) -> float:
    """Seconds between two messages of an edition of `size` spread over `minutes`."""
    if minutes <= 0 or size <= 0:
        return 0.0
    return minutes * 60.0 / size


def edition_size(conn: Connection, digest_id: int) -> int:
    """Messages the edition sends: its ledger rows once fanned out; while the fan-out is
    still creating them, the subscribers it will create rows for (if more)."""
    d = Digest.__table__.c
    row = conn.execute(select(d.ledger_rows, d.fanned_out_at).where(d.id == digest_id)).first()
    if row is None:
        return 0
    rows, fanned_out = int(row[0] or 0), row[1] is not None
    if fanned_out:
        return rows
    s = Subscriber.__table__.c
    active = conn.execute(
        select(func.count()).where(s.state == SubscriberState.active.value, s.wants_daily.is_(True))
    ).scalar()
    conn.commit()
    return max(rows, int(active or 0))


class Pacer(Protocol):
    def wait(self, stopped: Callable[[], bool], meanwhile: Callable[[], None]) -> bool: ...


class NoPacing:
    def wait(self, stopped: Callable[[], bool], meanwhile: Callable[[], None]) -> bool:
        return True


class _Slots(Protocol):
    def take(self) -> float: ...


class LocalSlots:
    """The edition's next slot in this process (embedded mode, or Redis away)."""

    _next: ClassVar[dict[int, float]] = {}  # shared by the batches of this process
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, digest_id: int, interval: float) -> None:
        self.digest_id = digest_id
        self.interval = interval

    def take(self) -> float:
        with self._lock:
            now = time.monotonic()
            nxt = self._next.get(self.digest_id, 0.0)
            if now < nxt:
                return nxt - now
            late = now - nxt >= self.interval
            self._next[self.digest_id] = (now if late else nxt) + self.interval
            return 0.0


class RedisSlots:
    def __init__(self, client: Any, digest_id: int, interval: float) -> None:
        self.key = KEY.format(digest_id=digest_id)
        self.interval_ms = interval * 1000.0
        self.script = client.register_script(_NEXT_LUA)
        self.fallback = LocalSlots(digest_id, interval)
        self.gate = RedisGate()

    def take(self) -> float:
        if not self.gate.open():
            return self.fallback.take()
        try:
            wait_ms = int(self.script(keys=[self.key], args=[self.interval_ms]))
        except Exception as exc:  # Redis restarting: keep the pace in-process meanwhile
            self.gate.failed(exc, "the edition's spread is paced in-process meanwhile")
            return self.fallback.take()
        self.gate.answered()
        return wait_ms / 1000.0


class Spread:
    """Waits for the edition's next slot, looking at `stopped` about once a second."""

    def __init__(self, slots: _Slots) -> None:
        self.slots = slots

    def wait(self, stopped: Callable[[], bool], meanwhile: Callable[[], None]) -> bool:
        """True once this message may go; False when the edition stopped meanwhile."""
        while (wait := self.slots.take()) > 0:
            meanwhile()  # e.g. keep the claimed rows' lease
            if stopped():
                return False
            time.sleep(min(wait, LONGEST_SLEEP))
        return True


def pacer(settings: Settings, conn: Connection, digest_id: int) -> Pacer:
    """The edition's pace for one batch (its size looked up once per batch)."""
    if settings.send_spread_minutes <= 0:
        return NoPacing()
    interval = interval_seconds(settings.send_spread_minutes, edition_size(conn, digest_id))
    if interval <= 0:
        return NoPacing()
    client = limits_redis(settings)
    if client is None:
        return Spread(LocalSlots(digest_id, interval))
    return Spread(RedisSlots(client, digest_id, interval))
