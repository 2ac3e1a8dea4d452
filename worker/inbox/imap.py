"""`digestcast inbox fetch`: the IMAP mailbox of INBOX_IMAP_URL, with the standard imaplib.

`imaps://user:password@host[:993]/MAILBOX` (implicit TLS), `imap://...?starttls=1`, or plain
`imap://` (loopback and tests only); `verify=0` skips certificate checks; the mailbox defaults
to INBOX; a user name that is an address is written with `%40` for its `@`.

Each message not yet handled is read without marking it read (BODY.PEEK), handled in its own
transaction, then flagged with the keyword `$Digestcast` so the next fetch skips it; a message
about our mail (a bounce, a complaint, an unsubscribe request) is also marked \\Seen, while
anything else is left unread for a person. A server that allows no keywords gets \\Seen on
everything handled, and the fetch then takes only unseen messages.
"""

from __future__ import annotations

import imaplib
import logging
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from worker.inbox.handle import Handled, Summary
from worker.settings import Settings
from worker.urlquery import flag, query_of

log = logging.getLogger(__name__)
KEYWORD = "$Digestcast"


class ImapError(RuntimeError):
    pass


@dataclass(frozen=True)
class ImapConfig:
    host: str
    port: int
    user: str
    password: str
    mailbox: str = "INBOX"
    implicit_tls: bool = False
    starttls: bool = False
    verify: bool = True
    timeout: float = 30.0

    @classmethod
    def from_url(cls, url: str, timeout: float = 30.0) -> ImapConfig:
        parts = urlsplit(url)
        if parts.scheme not in ("imap", "imaps"):
            raise ImapError(
                f"INBOX_IMAP_URL must start with imap:// or imaps://, not {parts.scheme!r}"
            )
        if not parts.username:
            raise ImapError("INBOX_IMAP_URL needs a user name (imaps://user:password@host/INBOX)")
        if not parts.hostname:
            raise ImapError("INBOX_IMAP_URL needs a host (imaps://user:password@host/INBOX)")
        query = query_of(parts.query)
        try:
            starttls, verify = flag(query, "starttls", False), flag(query, "verify", True)
        except ValueError as error:
            raise ImapError(f"INBOX_IMAP_URL: {error}") from None
        try:
            port = parts.port  # urllib raises ValueError for a port out of range or not a number
            seconds = float(query.get("timeout", timeout))
        except ValueError as error:
            raise ImapError(f"INBOX_IMAP_URL has a bad port or timeout: {error}") from None
        if not 0 < seconds < float("inf"):
            raise ImapError("INBOX_IMAP_URL: timeout must be a positive number of seconds")
        implicit = parts.scheme == "imaps"
        return cls(
            host=parts.hostname,
            port=port or (993 if implicit else 143),
            user=unquote(parts.username),
            password=unquote(parts.password or ""),
            mailbox=unquote(parts.path.lstrip("/")) or "INBOX",
            implicit_tls=implicit,
            starttls=starttls and not implicit,
            verify=verify,
            timeout=seconds,
        )

    @property
    def address(self) -> str | None:
        """The user name when it is a mail address (the default unsubscribe mailto)."""
        return self.user if "@" in self.user and " " not in self.user else None


def _context(config: ImapConfig) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if not config.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def connect(config: ImapConfig) -> imaplib.IMAP4:
    conn: imaplib.IMAP4
    if config.implicit_tls:
        conn = imaplib.IMAP4_SSL(
            config.host, config.port, ssl_context=_context(config), timeout=config.timeout
        )
    else:
        conn = imaplib.IMAP4(config.host, config.port, timeout=config.timeout)
        if config.starttls:
            conn.starttls(ssl_context=_context(config))
    try:
        conn.login(config.user, config.password)
    except imaplib.IMAP4.error as exc:
        conn.shutdown()
        raise ImapError(f"IMAP login as {config.user} refused: {exc}") from None
    return conn


def _quoted(mailbox: str) -> str:
    return '"' + mailbox.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _keywords_allowed(conn: imaplib.IMAP4) -> bool:
    """The selected mailbox keeps keywords of our own (PERMANENTFLAGS lists \\* or ours)."""
    _, data = conn.response("PERMANENTFLAGS")
    flags = b" ".join(d for d in data if isinstance(d, bytes)).strip(b"()").split()
    return b"\\*" in flags or KEYWORD.encode() in flags


def _check(typ: str, data: Sequence[object], what: str) -> Sequence[object]:
    if typ != "OK":
        raise ImapError(f"IMAP {what} failed: {data!r}")
    return data


def fetch(
    settings: Settings,
    handle: Callable[[bytes], Handled],
    config: ImapConfig | None = None,
) -> Summary:
    """Handle up to INBOX_FETCH_MAX_MESSAGES messages not handled before."""
    if config is None:
        if settings.inbox_imap_url is None:
            raise ImapError("INBOX_IMAP_URL is not set")
        config = ImapConfig.from_url(
            settings.inbox_imap_url.get_secret_value(), settings.inbox_imap_timeout_seconds
        )
    summary = Summary(source=f"imap://{config.host}:{config.port}/{config.mailbox}")
    conn = connect(config)
    try:
        _check(*conn.select(_quoted(config.mailbox)), f"SELECT {config.mailbox}")
        keywords = _keywords_allowed(conn)
        criteria = ("UNKEYWORD", KEYWORD) if keywords else ("UNSEEN",)
        (found,) = _check(*conn.uid("SEARCH", *criteria), "SEARCH")
        uids = (found if isinstance(found, bytes) else b"").split()
        for uid in uids[: max(0, settings.inbox_fetch_max_messages)]:
            data = _check(*conn.uid("FETCH", uid.decode(), "(BODY.PEEK[])"), "FETCH")
            raw = next(
                (item[1] for item in data if isinstance(item, tuple) and len(item) == 2), None
            )
            if not isinstance(raw, bytes):
                log.warning("IMAP FETCH of uid %s returned no message", uid)
                continue
            handled = handle(raw)
            summary.add(f"uid {uid.decode()}", handled)
            flags = [KEYWORD] if keywords else []
            if handled.done or not keywords:
                flags.append("\\Seen")
            _check(
                *conn.uid("STORE", uid.decode(), "+FLAGS.SILENT", f"({' '.join(flags)})"),
                "STORE",
            )
    finally:
        try:
            conn.logout()
        except (OSError, imaplib.IMAP4.error):
            conn.shutdown()
    return summary
