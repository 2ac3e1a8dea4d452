"""Building one recipient's message and knowing, cheaply, that it needs no dot-stuffing.

The template checks its literal segments once and only the per-recipient values per message
(worker/digest/message.py, `clean_piece`), so the SMTP transport can skip scanning the whole
~60 KB message (`smtp.wire_parts`), the largest piece of a worker's CPU per message.
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
from worker.digest.message import MessageTemplate, clean_piece
from worker.settings import Settings

__all__ = ["Composer", "clean_piece", "prepared"]
log = logging.getLogger(__name__)

# DKIM signing is most of a message's CPU and runs in OpenSSL without the GIL: one thread per
# process signs a few messages ahead while the main thread talks SMTP
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

    def __init__(self, template: MessageTemplate) -> None:
        self.template = template
        self.ahead = SIGN_AHEAD if template.signs else 0  # signing off the thread

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
        return self.template.render(recipient)


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
