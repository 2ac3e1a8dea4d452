"""A batch's rows on their way to the relay: claimed a chunk at a time (the next chunk ahead,
on PostgreSQL) and built a message or two ahead of sending."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from itertools import islice
from typing import TypeVar

from sqlalchemy import Connection

from worker import db
from worker.delivery import ledger, outcomes
from worker.models import utcnow
from worker.settings import Settings

T = TypeVar("T")


def chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    rest = iter(items)
    while chunk := list(islice(rest, max(1, size))):
        yield chunk


Built = tuple[ledger.Row, bytes, bool]
Claimed = tuple[list[int], list[int], list[ledger.Row]]  # the chunk, the ids owned, their rows


class Claims:
    """A batch's rows, claimed and loaded a chunk at a time.

    On PostgreSQL the next chunk is claimed on a helper thread, with its own connection, while
    this one is being sent, so the relay connection never idles while a chunk loads. Rows
    claimed ahead and not sent (the relay went down, an error) are given back at once rather
    than left to their lease.
    """

    def __init__(self, settings: Settings, digest_id: int, delivery_ids: Sequence[int]) -> None:
        self.digest_id = digest_id
        self.lease = settings.send_lease_seconds
        self.chunks = deque(chunks(delivery_ids, settings.send_claim_chunk))
        self.engine = db.get_engine(settings.database_url)
        ahead = self.engine.dialect.name == "postgresql" and len(self.chunks) > 1
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="claim-ahead") if ahead else None
        self.ahead: Future[Claimed] | None = None

    def _claim(self, conn: Connection, chunk: list[int]) -> Claimed:
        owned = ledger.claim(conn, self.digest_id, chunk, self.lease)
        rows = ledger.load_rows(conn, owned)
        conn.commit()
        return chunk, owned, rows

    def _claim_apart(self, chunk: list[int]) -> Claimed:
        with self.engine.connect() as conn:
            return self._claim(conn, chunk)

    def take(self, conn: Connection) -> Claimed | None:
        if self.ahead is not None:
            taken, self.ahead = self.ahead.result(), None
        elif self.chunks:
            taken = self._claim(conn, self.chunks.popleft())
        else:
            return None
        if self.pool is not None and self.chunks:
            self.ahead = self.pool.submit(self._claim_apart, self.chunks.popleft())
        return taken

    def give_back(self, conn: Connection, due: datetime) -> tuple[list[int], list[int]]:
        """The relay is down: rows claimed ahead go back to the queue (their attempt not
        counted), unclaimed ones wait; both due at `due`. Returns (released, postponed)."""
        released: list[int] = []
        if self.ahead is not None:
            _, released, _ = self.ahead.result()
            self.ahead = None
            outcomes.release(conn, released, due)
        postponed = [i for chunk in self.chunks for i in chunk]
        self.chunks.clear()
        outcomes.postpone(conn, postponed, due)
        return released, postponed

    def stop(self, conn: Connection, settle: Callable[[Connection, list[int]], None]) -> int:
        """The edition stopped (paused, cancelled): the chunk claimed ahead gets `settle`
        (back to the queue, or cancelled), unclaimed chunks stay as they are. Returns how
        many rows were settled."""
        settled: list[int] = []
        if self.ahead is not None:
            _, settled, _ = self.ahead.result()
            self.ahead = None
            settle(conn, settled)
        self.chunks.clear()
        return len(settled)

    def close(self, conn: Connection) -> None:
        try:
            if self.ahead is not None:  # left early (an error): give its rows back now
                _, owned, _ = self.ahead.result()
                self.ahead = None
                outcomes.release(conn, owned, utcnow())
        finally:
            if self.pool is not None:
                self.pool.shutdown(wait=True)


class Lease:
    """A chunk's claimed rows not sent yet: their lease is renewed while they wait (throttled,
    spread over SEND_SPREAD_MINUTES, or a slow relay), a round trip per third of the lease."""

    def __init__(self, conn: Connection, ids: list[int], seconds: int) -> None:
        self.conn = conn
        self.unsent = set(ids)
        self.seconds = seconds
        self.renewed = time.monotonic()

    def keep(self) -> None:
        if time.monotonic() - self.renewed > self.seconds / 3:
            ledger.renew(self.conn, sorted(self.unsent), self.seconds)
            self.renewed = time.monotonic()

    def sending(self, delivery_id: int) -> None:
        self.unsent.discard(delivery_id)


class Ahead:
    """Messages built ahead of sending: the next one's envelope rides with the current body,
    and the one after is built while the relay processes that body."""

    def __init__(self, items: Iterator[Built]) -> None:
        self.items = items
        self.built: deque[Built] = deque()

    def while_waiting(self) -> None:
        """While the relay processes the current body: build the message after next."""
        self.fill(2)

    def fill(self, depth: int) -> Built | None:
        """Build until `depth` messages wait (fewer at the end); returns the first waiting."""
        while len(self.built) < depth and (item := next(self.items, None)) is not None:
            self.built.append(item)
        return self.built[0] if self.built else None

    def pop(self) -> Built | None:
        self.fill(1)
        return self.built.popleft() if self.built else None

    def rest(self) -> list[Built]:
        """Everything not sent yet, built or not (the relay is down: give it all back)."""
        rest = list(self.built) + list(self.items)
        self.built.clear()
        return rest
