"""The process's transport: chosen by the settings, one per settings and thread."""

from __future__ import annotations

import threading
from pathlib import Path

from worker.delivery.outbound import close_transports, get_transport
from worker.delivery.smtp import SmtpTransport
from worker.delivery.transport import MaildirTransport
from worker.settings import Settings


def test_one_transport_per_settings_and_thread(tmp_path: Path) -> None:
    maildir = Settings(outbox_dir=tmp_path / "outbox")
    smtp = Settings(smtp_url="smtp://relay.invalid:2525")
    try:
        first = get_transport(maildir)
        assert isinstance(first, MaildirTransport)
        assert get_transport(maildir) is first
        relay = get_transport(smtp)  # nothing connects before the first message
        assert isinstance(relay, SmtpTransport) and relay.config.port == 2525
        other: list[object] = []
        thread = threading.Thread(target=lambda: other.append(get_transport(maildir)))
        thread.start()
        thread.join()
        assert other[0] is not first
    finally:
        close_transports()
    assert get_transport(maildir) is not first  # closed ones are made again
    close_transports()
