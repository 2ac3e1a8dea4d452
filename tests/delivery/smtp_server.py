"""A real SMTP server (aiosmtpd) that can be told to misbehave, for transport and fault tests.

Rules (by recipient address, regular expressions):
- `tempfail`: answer RCPT with 451 the first `tempfail_times` times for that address;
- `reject`: answer RCPT with 550 always;
- `drop_before_data`: close the connection when RCPT arrives (once per address);
- `drop_after_data`: store the message, then close the connection without replying (once);
- `pipelining`: advertise PIPELINING in the EHLO reply (aiosmtpd reads commands line by line,
  so pipelined commands are answered in order either way);
- `refuse_while`: a file path; while that file exists every RCPT gets 451 (a relay that starts
  refusing everything mid-send, and recovers when the file is removed);
- `slow_data`: seconds to wait before answering each DATA (a slow relay; other sessions go on).

Every accepted message is recorded: in memory (`handler.messages`) and, when `record` is set,
as one line "recipient<TAB>message-id<TAB>unix time" appended to that file (for the fault
tests, where the server runs in its own process:
`python -m tests.delivery.smtp_server PORT RULES.json RECORD`).
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import socket
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

_MESSAGE_ID = re.compile(rb"^Message-ID:\s*(\S+)", re.MULTILINE | re.IGNORECASE)


@dataclass
class Rules:
    pipelining: bool = True
    tempfail: str | None = None
    tempfail_times: int = 1
    reject: str | None = None
    drop_before_data: str | None = None
    drop_after_data: str | None = None
    refuse_while: str | None = None
    slow_data: float = 0.0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Rules:
        return cls(**data)


@dataclass
class Recorder:
    rules: Rules = field(default_factory=Rules)
    record: Path | None = None
    messages: list[tuple[str, bytes]] = field(default_factory=list)
    tempfailed: Counter[str] = field(default_factory=Counter)
    dropped: set[str] = field(default_factory=set)
    rejected: Counter[str] = field(default_factory=Counter)
    connections: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @staticmethod
    def _match(pattern: str | None, address: str) -> bool:
        return pattern is not None and re.search(pattern, address) is not None

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        session.host_name = hostname
        with self.lock:
            self.connections += 1
        if self.rules.pipelining:
            responses.insert(1, "250-PIPELINING")
        return responses

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        rules = self.rules
        if rules.refuse_while is not None and Path(rules.refuse_while).exists():
            return "451 4.3.2 System not accepting network messages, try again later"
        if self._match(rules.reject, address):
            self.rejected[address] += 1
            return f"550 5.1.1 <{address}>: Recipient address rejected: no such user"
        if self._match(rules.drop_before_data, address) and address not in self.dropped:
            self.dropped.add(address)
            server.transport.close()
            return "421 4.4.2 closing"
        if self._match(rules.tempfail, address) and self.tempfailed[address] < rules.tempfail_times:
            self.tempfailed[address] += 1
            return f"451 4.7.1 <{address}>: greylisted, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.rules.slow_data > 0:
            await asyncio.sleep(self.rules.slow_data)
        content = envelope.original_content or b""
        for rcpt in envelope.rcpt_tos:
            self._store(rcpt, content)
        rcpt = envelope.rcpt_tos[0] if envelope.rcpt_tos else ""
        if self._match(self.rules.drop_after_data, rcpt) and rcpt not in self.dropped:
            self.dropped.add(rcpt)
            server.transport.close()  # stored, but the client never hears the 250
        return "250 2.0.0 Ok: queued"

    def _store(self, rcpt: str, content: bytes) -> None:
        with self.lock:
            self.messages.append((rcpt, content))
            if self.record is not None:
                found = _MESSAGE_ID.search(content)
                mid = found.group(1).decode() if found else "-"
                with self.record.open("a") as out:
                    out.write(f"{rcpt}\t{mid}\t{time.time():.6f}\n")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """The recorder behind an aiosmtpd Controller on 127.0.0.1 (a thread of this process)."""

    def __init__(self, recorder: Recorder, port: int | None = None, **smtp: Any) -> None:
        self.recorder = recorder
        self.port = port or free_port()
        self.controller = Controller(
            recorder, hostname="127.0.0.1", port=self.port, data_size_limit=None, **smtp
        )

    def __enter__(self) -> Server:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"


def main() -> None:
    port, rules_file, record = int(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    recorder = Recorder(Rules.from_dict(json.loads(rules_file.read_text())), record=record)
    with Server(recorder, port=port):
        print("ready", flush=True)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        stop.wait()


if __name__ == "__main__":
    main()
