"""The process's transport for its settings: the Maildir outbox, or one SMTP connection per
thread reused across batches; all closed at exit."""

from __future__ import annotations

import atexit
import contextlib
import threading
from pathlib import Path

from worker.delivery.smtp import SmtpConfig, SmtpTransport
from worker.delivery.throttle import connection_slots
from worker.delivery.transport import MaildirTransport, Transport
from worker.settings import Settings

_transports: dict[tuple[str, int], Transport] = {}
_lock = threading.Lock()


def get_transport(settings: Settings) -> Transport:
    """The process's transport for these settings: one SMTP connection reused across batches."""
    key = (settings.smtp_url or f"maildir:{settings.outbox_dir}", threading.get_ident())
    with _lock:
        transport = _transports.get(key)
        if transport is None:
            if settings.smtp_url:
                transport = SmtpTransport(
                    SmtpConfig.from_url(settings.smtp_url, settings.smtp_timeout_seconds),
                    slots=connection_slots(settings),
                )
            else:
                transport = MaildirTransport(Path(settings.outbox_dir))
            _transports[key] = transport
        return transport


def close_transports() -> None:
    with _lock:
        transports = list(_transports.values())
        _transports.clear()
    for transport in transports:
        with contextlib.suppress(Exception):  # closing at exit must not raise
            transport.close()


atexit.register(close_transports)
