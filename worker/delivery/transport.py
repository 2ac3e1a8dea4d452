"""What the sender hands a message to: the Transport protocol, its SendResult, and the Maildir
outbox (the embedded default). SMTP is smtp.py; the process's transport, per settings, comes
from outbound.py.

Outcomes (`SendResult.outcome`):
- sent: the relay answered 250 to the end of data;
- transient: 4xx, or the connection dropped before the end of data (safe to retry);
- permanent: 5xx (`suppress` is True when the recipient itself was refused);
- unknown: the connection dropped after the end of data, before the reply (RFC 1047): the
  relay may have queued the message, so it must not be blindly retried.
"""

from __future__ import annotations

import mailbox
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

SendOutcome = Literal["sent", "transient", "permanent", "unknown"]


@dataclass(frozen=True)
class SendResult:
    outcome: SendOutcome
    code: int | None
    reply: str
    stage: str = "data"  # connect | mail | rcpt | data

    @property
    def suppress(self) -> bool:
        """A permanent refusal of the recipient itself (not of the sender or the content)."""
        return self.outcome == "permanent" and self.stage == "rcpt"


Envelope = tuple[str, str, int, bool]  # sender, recipient, approximate size, ASCII body
Waiting = Callable[[], None]


class Transport(Protocol):
    def send(
        self,
        sender: str,
        recipient: str,
        data: bytes,
        next_envelope: Envelope | None = None,
        *,
        clean: bool = False,
        while_waiting: Waiting | None = None,
    ) -> SendResult:
        """Send one message. `next_envelope`: the message the caller sends right after this
        one; a pipelining transport may put its MAIL/RCPT/DATA on the wire with this body.
        `clean`: the caller checked that `data` is 7-bit and needs no line-end fix or
        dot-stuffing (see worker/delivery/compose.py). `while_waiting`: work for the caller
        (building the next message) run while the relay processes this one, before its reply
        is read; it must not raise."""
        ...

    def close(self) -> None: ...


# ---------------------------------------------------------------- Maildir
class MaildirTransport:
    """One file per message in a Maildir (tmp/ then renamed into new/: never half-written)."""

    def __init__(self, path: Path) -> None:
        for sub in ("tmp", "new", "cur"):  # Maildir(create=True) skips them if `path` exists
            (path / sub).mkdir(parents=True, exist_ok=True)
        self.box = mailbox.Maildir(str(path), create=True)

    def send(
        self,
        sender: str,
        recipient: str,
        data: bytes,
        next_envelope: Envelope | None = None,
        *,
        clean: bool = False,
        while_waiting: Waiting | None = None,
    ) -> SendResult:
        key = self.box.add(data)
        return SendResult("sent", 250, f"maildir {key}")

    def close(self) -> None:
        return None
