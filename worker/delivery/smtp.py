"""SMTP with one reused connection per process.

smtplib does the handshake (EHLO, STARTTLS, AUTH); each message is then one transaction
carried with smtplib's low-level `send`/`getreply`. When the server offers PIPELINING
(RFC 2920) MAIL, RCPT and DATA go out in one write and their three replies are read together,
so a message costs two round trips instead of four. Outcomes as in
transport.py.
"""

from __future__ import annotations

import contextlib
import logging
import re
import smtplib
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from worker.delivery.address import ascii_domain
from worker.delivery.throttle import ConnectionSlots
from worker.delivery.transport import Envelope, SendResult, Waiting
from worker.urlquery import flag, query_of

log = logging.getLogger(__name__)
_EOL = re.compile(rb"\r\n|\r|\n")
_LEADING_DOT = re.compile(rb"(?m)^\.")
_UNSAFE_ADDRESS = re.compile(r"[\s<>]")


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    implicit_tls: bool = False
    starttls: bool = False
    username: str | None = None
    password: str | None = None
    verify: bool = True
    timeout: float = 30.0

    @classmethod
    def from_url(cls, url: str, timeout: float = 30.0) -> SmtpConfig:
        """`smtp://user:pass@host:port?starttls=1`, `smtps://host` (implicit TLS), `verify=0`."""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps"):
            raise ValueError(f"SMTP_URL must start with smtp:// or smtps://, not {parts.scheme!r}")
        query = query_of(parts.query)
        implicit = parts.scheme == "smtps"
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or (465 if implicit else 25),
            implicit_tls=implicit,
            starttls=flag(query, "starttls", False) and not implicit,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            verify=flag(query, "verify", True),
            timeout=float(query.get("timeout", timeout)),
        )


class _Dropped(Exception):
    """The connection went away before the end of data: the message was not delivered."""


def wire_parts(data: bytes, clean: bool = False) -> list[bytes]:
    """The message as it goes on the wire after DATA, in pieces (sent with one `sendmsg`, so the
    ~60 KB body is not copied to append the terminator): CRLF line ends, dot-stuffing
    (RFC 5321 4.5.2) and the terminating <CRLF>.<CRLF>.

    `clean`: the caller has established what the fast path below checks (compose.py).
    """
    # fast path for the digest template's output (CRLF already, rarely a leading dot): three
    # C-speed scans instead of two regex substitutions over ~60 KB (a bare CR is left as is)
    if clean or (
        data.count(b"\n") == data.count(b"\r\n") and b"\n." not in data and data[:1] != b"."
    ):
        body = data
    else:
        body = _LEADING_DOT.sub(b"..", _EOL.sub(b"\r\n", data))
    return [body, b".\r\n" if body.endswith(b"\r\n") else b"\r\n.\r\n"]


def wire_bytes(data: bytes, clean: bool = False) -> bytes:
    """`wire_parts` joined: exactly the bytes sent after DATA."""
    return b"".join(wire_parts(data, clean))


def send_parts(sock: socket.socket, parts: list[bytes]) -> None:
    """`sendall` of the parts joined, without joining them (sendmsg may send part of it)."""
    if isinstance(sock, ssl.SSLSocket):  # TLS has no scatter/gather send
        sock.sendall(b"".join(parts))
        return
    views = [memoryview(part) for part in parts if part]
    while views:
        sent = sock.sendmsg(views)
        while sent and views:
            if sent >= views[0].nbytes:
                sent -= views.pop(0).nbytes
            else:
                views[0] = views[0][sent:]
                sent = 0


def _text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return " ".join(text.split())[:1000]


def _classify(code: int, reply: bytes, stage: str) -> SendResult:
    text = _text(reply)
    # RFC 5321 4.5.3.1.10: a 552 to RCPT is to be treated as the temporary 452
    if 400 <= code < 500 or (stage == "rcpt" and code == 552):
        return SendResult("transient", code, text, stage)
    return SendResult("permanent", code, text, stage)


class SmtpTransport:
    """One SMTP connection, reused across messages, reopened when it drops."""

    def __init__(
        self,
        config: SmtpConfig,
        slots: ConnectionSlots | None = None,
        reconnect_attempts: int = 3,
        local_hostname: str | None = None,
    ) -> None:
        self.config = config
        self.slots = slots
        self.reconnect_attempts = reconnect_attempts
        self.local_hostname = local_hostname
        self.conn: smtplib.SMTP | None = None
        self.pipelining = False
        self.connects = 0
        # an envelope already sent after the previous body (RFC 2920 lets the message content
        # lead a group): its three replies are read by the next send() for that recipient
        self._pending: tuple[str, str] | None = None

    # -- connection
    def _context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if not self.config.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _open(self) -> smtplib.SMTP:
        c = self.config
        if self.slots is not None:
            self.slots.acquire()
        try:
            conn: smtplib.SMTP
            if c.implicit_tls:
                conn = smtplib.SMTP_SSL(
                    c.host,
                    c.port,
                    timeout=c.timeout,
                    context=self._context(),
                    local_hostname=self.local_hostname,
                )
            else:
                conn = smtplib.SMTP(
                    c.host, c.port, timeout=c.timeout, local_hostname=self.local_hostname
                )
            conn.ehlo()
            if c.starttls:
                conn.starttls(context=self._context())
                conn.ehlo()
            if c.username:
                conn.login(c.username, c.password or "")
        except BaseException:
            if self.slots is not None:
                self.slots.release()
            raise
        self.pipelining = conn.has_extn("pipelining")
        self.connects += 1
        return conn

    def _discard(self) -> None:
        self._pending = None
        conn, self.conn = self.conn, None
        if conn is not None:
            try:
                conn.close()
            finally:
                if self.slots is not None:
                    self.slots.release()

    def close(self) -> None:
        if self.conn is not None and self._pending is None:  # not in the middle of DATA
            with contextlib.suppress(OSError, smtplib.SMTPException):
                self.conn.quit()
        self._discard()

    # -- one message
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
        if self._pending is not None and self._pending != (sender, recipient):
            # the caller did not follow up the envelope it announced: dropping the connection
            # abandons that half-open transaction (an SMTP server delivers nothing from it)
            self._discard()
        recipient = ascii_domain(recipient)
        if _UNSAFE_ADDRESS.search(recipient) or _UNSAFE_ADDRESS.search(sender):
            return SendResult("permanent", None, "address contains whitespace or <>", "rcpt")
        if next_envelope is not None:
            n_sender, n_recipient, n_size, n_ascii = next_envelope
            next_envelope = (n_sender, ascii_domain(n_recipient), n_size, n_ascii)
            if _UNSAFE_ADDRESS.search(next_envelope[1]):
                next_envelope = None
        payload = wire_parts(data, clean)
        ascii_body = clean or data.isascii()
        last = "connection dropped"
        for _ in range(self.reconnect_attempts):
            if self.conn is None:
                try:
                    self.conn = self._open()
                except (OSError, smtplib.SMTPException) as exc:
                    return SendResult("transient", None, f"connect: {exc}", "connect")
            elif self.slots is not None and not self.slots.refresh():
                self._discard()  # our slot lapsed (idle too long): take a fresh one
                continue
            try:
                result = self._transaction(
                    self.conn, sender, recipient, payload, ascii_body, next_envelope, while_waiting
                )
            except _Dropped as exc:
                last = str(exc)
                self._discard()
                continue
            if result.outcome == "unknown" or result.code == 421:
                self._discard()
            return result
        return SendResult("transient", None, last, "connect")

    def _envelope(
        self, conn: smtplib.SMTP, sender: str, recipient: str, size: int, ascii_body: bool
    ) -> bytes | None:
        """MAIL, RCPT and DATA as bytes; None when the relay cannot take these addresses."""
        options = []
        if conn.has_extn("size"):
            options.append(f"SIZE={size}")
        if not ascii_body and conn.has_extn("8bitmime"):
            options.append("BODY=8BITMIME")
        if not (sender + recipient).isascii():
            if not conn.has_extn("smtputf8"):
                return None
            options.append("SMTPUTF8")
        mail = f"MAIL FROM:<{sender}>{''.join(' ' + o for o in options)}\r\n"
        return (mail + f"RCPT TO:<{recipient}>\r\nDATA\r\n").encode()

    def _transaction(
        self,
        conn: smtplib.SMTP,
        sender: str,
        recipient: str,
        payload: list[bytes],
        ascii_body: bool,
        next_envelope: Envelope | None,
        while_waiting: Waiting | None = None,
    ) -> SendResult:
        announced, self._pending = self._pending == (sender, recipient), None
        try:
            if announced:  # sent with the previous body: only the replies are left to read
                replies = [conn.getreply(), conn.getreply(), conn.getreply()]
            else:
                size = sum(len(part) for part in payload)
                envelope = self._envelope(conn, sender, recipient, size, ascii_body)
                if envelope is None:
                    # our relay's limit, not the address's fault: recorded, never suppressed
                    return SendResult(
                        "permanent",
                        None,
                        f"not sent: {recipient} needs SMTPUTF8 (a non-ASCII local part) and "
                        "the relay does not offer it",
                        "mail",
                    )
                if self.pipelining:
                    conn.send(envelope)
                    replies = [conn.getreply(), conn.getreply(), conn.getreply()]
                else:
                    replies = []
                    for command in envelope.split(b"\r\n")[:3]:
                        conn.send(command + b"\r\n")
                        replies.append(conn.getreply())
                        if replies[-1][0] >= 400:
                            break
        except (OSError, smtplib.SMTPServerDisconnected) as exc:
            raise _Dropped(f"connection lost before data: {exc}") from exc
        stages = ("mail", "rcpt", "data")
        for (code, reply), stage in zip(replies, stages, strict=False):
            if stage == "data" and code == 354:
                break
            if code >= 400 or (stage == "data" and code != 354):
                if code == 421:
                    raise _Dropped(f"421 {_text(reply)}")
                self._abort(conn, data_open=len(replies) == 3 and replies[2][0] == 354)
                return _classify(code, reply, stage)
        lookahead = None
        if next_envelope is not None and self.pipelining:
            n_sender, n_recipient, n_size, n_ascii = next_envelope
            following = self._envelope(conn, n_sender, n_recipient, n_size, n_ascii)
            if following is not None:
                payload = [*payload, following]
                lookahead = (n_sender, n_recipient)
        try:
            send_parts(conn.sock, payload)  # type: ignore[arg-type]
        except OSError as exc:
            raise _Dropped(f"connection lost while sending data: {exc}") from exc
        self._pending = lookahead
        if while_waiting is not None:
            # the relay is busy with 60 KB: the caller builds its next message meanwhile
            try:
                while_waiting()
            except Exception:  # never lose this message's reply to the caller's bug
                log.exception("work while waiting for the relay failed")
        try:
            code, reply = conn.getreply()
        except (OSError, smtplib.SMTPServerDisconnected) as exc:
            return SendResult("unknown", None, f"connection lost after data: {exc}", "data")
        if code == 250:
            return SendResult("sent", code, _text(reply), "data")
        return _classify(code, reply, "data")

    def _abort(self, conn: smtplib.SMTP, data_open: bool) -> None:
        """Leave the server ready for the next transaction after a refusal."""
        try:
            if data_open:  # DATA accepted although a command failed: send an empty message
                conn.send(b".\r\n")
                conn.getreply()
            conn.send(b"RSET\r\n")
            conn.getreply()
        except (OSError, smtplib.SMTPServerDisconnected):
            self._discard()
