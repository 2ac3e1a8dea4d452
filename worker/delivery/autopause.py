"""Auto-pause: the share of failed attempts in an edition's last AUTO_PAUSE_WINDOW messages.

Each batch counts its attempts (sent, or refused: 5xx, 4xx, dropped connections, unknown
outcomes) and adds them to the edition's shared window about once a second, so the window
spans every worker: with a Redis broker it is a Redis list of (ok, bad) tallies, newest first,
trimmed and summed in one Lua script; in-process it is a list in this process. Past
AUTO_PAUSE_ERROR_RATE over a full window, the batch asks the lifecycle to pause the edition.

Why a full window of 200 at 0.5 by default: a normal list with a few bad addresses (even 10%
stale) or a provider greylisting a third of its mail stays far below half, and a window of
200 never judges from the first handful of messages; a relay that refuses everything trips it
within 200 attempts (a fraction of a second of sending), long before it burns a day's attempts
or the sender's reputation.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from typing import Any, Protocol

from worker.outage import is_redis, redis_client
from worker.settings import Settings

KEY = "digestcast:autopause:{digest_id}"
TTL_MS = 6 * 3600 * 1000

# KEYS[1] list of "ok:bad"; ARGV ok, bad, window. Returns {ok, bad} over the newest entries
# that reach `window` messages (the oldest of them may overshoot a little).
_ADD_LUA = """
local ok = tonumber(ARGV[1])
local bad = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
if ok + bad > 0 then
  redis.call('LPUSH', KEYS[1], ok .. ':' .. bad)
  redis.call('LTRIM', KEYS[1], 0, window - 1)
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
end
local total_ok, total_bad = 0, 0
for _, entry in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  local sep = string.find(entry, ':')
  total_ok = total_ok + tonumber(string.sub(entry, 1, sep - 1))
  total_bad = total_bad + tonumber(string.sub(entry, sep + 1))
  if total_ok + total_bad >= window then break end
end
return {total_ok, total_bad}
"""


@dataclass(frozen=True)
class Verdict:
    ok: int
    bad: int
    trip: bool
    reason: str = ""


def judge(ok: int, bad: int, window: int, rate: float) -> Verdict:
    """Pure: trip when a full window's share of failures is above `rate` (0: never)."""
    total = ok + bad
    if rate <= 0 or window <= 0 or total < window or bad / total <= rate:
        return Verdict(ok, bad, False)
    return Verdict(
        ok,
        bad,
        True,
        f"auto-pause: {bad} of the last {total} attempts failed ({bad / total:.0%} > "
        f"AUTO_PAUSE_ERROR_RATE {rate:g})",
    )


class Window(Protocol):
    def add(self, digest_id: int, ok: int, bad: int) -> tuple[int, int]: ...

    def reset(self, digest_id: int) -> None: ...


class LocalWindow:
    """In-process (no broker): every batch runs in this process."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.tallies: dict[int, list[tuple[int, int]]] = {}
        self.lock = threading.Lock()

    def add(self, digest_id: int, ok: int, bad: int) -> tuple[int, int]:
        with self.lock:
            tallies = self.tallies.setdefault(digest_id, [])
            if ok + bad:
                tallies.insert(0, (ok, bad))
                del tallies[self.size :]
            total_ok = total_bad = 0
            for o, b in tallies:
                total_ok, total_bad = total_ok + o, total_bad + b
                if total_ok + total_bad >= self.size:
                    break
            return total_ok, total_bad

    def reset(self, digest_id: int) -> None:
        with self.lock:
            self.tallies.pop(digest_id, None)


class RedisWindow:
    """Shared by every worker (one Lua call a second per batch)."""

    def __init__(self, client: Any, size: int) -> None:
        self.client = client
        self.size = size
        self.script = self.client.register_script(_ADD_LUA)

    def add(self, digest_id: int, ok: int, bad: int) -> tuple[int, int]:
        import redis

        try:
            got = self.script(
                keys=[KEY.format(digest_id=digest_id)], args=[ok, bad, self.size, TTL_MS]
            )
        except redis.RedisError:  # Redis restarting: judge nothing this round, send on
            return 0, 0
        return int(got[0]), int(got[1])

    def reset(self, digest_id: int) -> None:
        import redis

        with contextlib.suppress(redis.RedisError):
            self.client.delete(KEY.format(digest_id=digest_id))


_local: dict[int, LocalWindow] = {}
_shared: dict[tuple[str, int], RedisWindow] = {}


def window(settings: Settings) -> Window:
    size = max(1, settings.auto_pause_window)
    url = settings.broker_url
    if url and is_redis(url):
        key = (url, size)
        if key not in _shared:
            _shared[key] = RedisWindow(redis_client(url), size)
        return _shared[key]
    if size not in _local:
        _local[size] = LocalWindow(size)
    return _local[size]
