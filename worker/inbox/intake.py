"""The two ways in: a mailbox on disk (`inbox import PATH`) and the IMAP mailbox (`inbox fetch`,
the `inbox.fetch` task)."""

from __future__ import annotations

import logging
from pathlib import Path

from worker.inbox import imap, mailboxes
from worker.inbox.handle import Summary, handle
from worker.settings import Settings

log = logging.getLogger(__name__)


def import_path(settings: Settings, path: Path) -> Summary:
    summary = Summary(source=str(path))
    for key, raw in mailboxes.messages(path):
        summary.add(key, handle(settings, raw))
    return summary


def fetch(settings: Settings) -> Summary:
    summary = imap.fetch(settings, lambda raw: handle(settings, raw))
    for problem in summary.problems:
        log.warning("inbox: %s", problem)
    log.info(summary.line())
    return summary
