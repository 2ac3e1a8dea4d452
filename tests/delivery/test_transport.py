"""The Maildir outbox (the embedded default transport)."""

from __future__ import annotations

from pathlib import Path

from worker.delivery.transport import MaildirTransport

MESSAGE = b"From: daily@example.org\r\nTo: {to}\r\nSubject: hi\r\n\r\nline one\r\n.leading dot\r\n"


def message(to: str) -> bytes:
    return MESSAGE.replace(b"{to}", to.encode())


def test_maildir_transport_writes_one_file_per_message(tmp_path: Path) -> None:
    transport = MaildirTransport(tmp_path / "outbox")
    for i in range(3):
        assert transport.send("b@example.org", f"r{i}@example.net", message("x")).outcome == "sent"
    assert len(list((tmp_path / "outbox" / "new").iterdir())) == 3
    assert list((tmp_path / "outbox" / "tmp").iterdir()) == []
