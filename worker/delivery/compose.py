"""Building one recipient's message and knowing, cheaply, that it needs no dot-stuffing.

`smtp.wire_bytes` scans the whole ~60 KB message three times to decide whether line ends
must be normalised or dots stuffed: measured 135 us a message here, the largest piece of a
worker's CPU per message. Yet all but a few hundred bytes of every message are the digest
template's literal segments, the same for every recipient, so `MessageTemplate.render` checks
those once per template and only the per-recipient values per message, and returns the flag
with the bytes (worker/digest/message.py, `clean_piece`). A template without `render` (a test
double, another builder) gets the transport's full scan.
"""

from __future__ import annotations

import logging
import os
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from worker.delivery import ledger, outcomes
from worker.delivery.batch import Built
from worker.digest.message import clean_piece
from worker.settings import Settings

__all__ = ["Composer", "clean_piece", "prepared"]
log = logging.getLogger(__name__)

# DKIM: the RSA signature (~1.2 ms of CPU at 2048 bits, 20x the rest of building a message)
# and the body hash run in OpenSSL without the GIL, so one thread per worker process signs the
# next messages while the main thread talks SMTP and commits outcomes (waits in which the CPU
# was idle); a few messages ahead, in order
SIGN_AHEAD = 4
_signer: tuple[int, ThreadPoolExecutor] | None = None


def _sign_thread() -> ThreadPoolExecutor:
    """This process's signing thread (made after the fork: a pool child gets its own)."""
    global _signer
    if _signer is None or _signer[0] != os.getpid():
        _signer = (os.getpid(), ThreadPoolExecutor(1, thread_name_prefix="dkim"))
    return _signer[1]


Job = Future[tuple[bytes, bool]] | tuple[bytes, bool]


class Composer:
    """A digest template's messages, each with a flag: True when already safe for DATA."""

    def __init__(self, template: Any) -> None:
        self.template = template
        self.render = getattr(template, "render", None)
        # signing off the thread: only for a template that signs and can render unsigned
        self.ahead = SIGN_AHEAD if getattr(template, "signs", False) else 0

    def start(self, recipient: Any) -> Job:
        """Build the message; its signature may still be under way (see `finish`)."""
        if not self.ahead:
            return self.build(recipient)
        message, clean = self.template.render_unsigned(recipient)
        return _sign_thread().submit(self.template.sign, message, clean)

    @staticmethod
    def finish(job: Job) -> tuple[bytes, bool]:
        """The built message (raises what building it raised)."""
        return job.result() if isinstance(job, Future) else job

    def build(self, recipient: Any) -> tuple[bytes, bool]:
        if self.render is not None:
            data, clean = self.render(recipient)
            return bytes(data), bool(clean)
        return self.template.personalize(recipient), False


def prepared(
    conn: Any,
    settings: Settings,
    rows: list[ledger.Row],
    composer: Composer,
    make_recipient: Callable[[Settings, ledger.Row], Any],
    stats: Counter[str],
) -> Iterator[Built]:
    """The claimed rows with their messages and whether each is clean for DATA (compose.py);
    rows to skip or that cannot be built are recorded."""
    started: deque[tuple[ledger.Row, Job]] = deque()  # signatures under way (compose.py)

    def finished() -> Iterator[Built]:
        row, job = started.popleft()
        try:
            data, clean = composer.finish(job)
        except Exception as exc:  # one bad recipient never stops the rest
            log.exception("building message for delivery %s", row.delivery_id)
            outcomes.mark_failed(conn, row.delivery_id, None, f"build: {exc!r}", None)
            stats["failed"] += 1
            return
        yield row, data, clean

    for row in rows:
        if row.skip_reason:
            outcomes.mark_skipped(conn, row.delivery_id, row.skip_reason)
            stats["skipped"] += 1
            continue
        try:
            started.append((row, composer.start(make_recipient(settings, row))))
        except Exception as exc:
            log.exception("building message for delivery %s", row.delivery_id)
            outcomes.mark_failed(conn, row.delivery_id, None, f"build: {exc!r}", None)
            stats["failed"] += 1
            continue
        if len(started) > composer.ahead:
            yield from finished()
    while started:
        yield from finished()
