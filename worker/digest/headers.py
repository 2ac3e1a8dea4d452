"""Per-recipient header values (pure): the To field and the List-Unsubscribe mailto.

To: a non-ASCII display name becomes RFC 2047 encoded words of at most 72 characters, one per
folded line (a long Cyrillic name used to be one 192-character word; the limit is 75), with
the address on a line of its own. The address keeps a non-ASCII local part as UTF-8 (RFC 6532:
the transport then sends with SMTPUTF8, or refuses the recipient clearly when the relay does not
offer it) and its domain as A-labels.
"""

from __future__ import annotations

import base64
import re
from email.utils import formataddr, parseaddr
from urllib.parse import unquote, urlsplit

from worker.delivery.address import ascii_domain
from worker.settings import Settings

_ADDR = re.compile(r"^[^\s<>(),;:\"\\@]+@[A-Za-z0-9.-]+$")
# RFC 2047 2: an encoded word is at most 75 characters and a line holding one at most 76;
# 45 bytes make 60 base64 characters, 72 with "=?utf-8?b?" and "?=", so "To: " plus one fits
_WORD_BYTES = 45


class MessageError(ValueError):
    """A recipient's data cannot go into a message (e.g. CR/LF or a malformed address)."""


def address_for_header(email: str) -> str:
    email = ascii_domain(email.strip())
    if not _ADDR.match(email) or len(email) > 320:
        raise MessageError(f"not a deliverable address: {email!r}")
    return email


def domain_of(address: str) -> str:
    return parseaddr(address)[1].rpartition("@")[2].lower()


def encoded_words(text: str) -> list[str]:
    """`text` as B-encoded words of at most 72 characters. Words break after a space where one
    fits (the space stays inside the encoded word: decoders drop the folding whitespace between
    encoded words, RFC 2047 6.2, and some display it), else between characters, never inside
    one."""
    chunks: list[bytes] = []
    current = b""
    for token in re.findall(r"\S+\s*|\s+", text):
        data = token.encode("utf-8")
        if current and len(current) + len(data) > _WORD_BYTES:
            chunks.append(current)
            current = b""
        if len(data) <= _WORD_BYTES - len(current):
            current += data
            continue
        for char in token:  # a word longer than one encoded word
            piece = char.encode("utf-8")
            if len(current) + len(piece) > _WORD_BYTES:
                chunks.append(current)
                current = b""
            current += piece
    if current:
        chunks.append(current)
    return [f"=?utf-8?b?{base64.b64encode(c).decode('ascii')}?=" for c in chunks]


def to_header(name: str, email: str) -> str:
    """The To value: `Name <addr>` (quoted as needed) for an ASCII name; for any other, the
    name as encoded words folded one per line and the address on a line of its own."""
    if not name:
        return email
    if name.isascii():
        return formataddr((name, email))
    return "\r\n ".join([*encoded_words(name), f"<{email}>"])


def unsubscribe_mailto(settings: Settings) -> str | None:
    """The List-Unsubscribe mailto, only when a mailbox is read for it (worker/inbox/):
    UNSUBSCRIBE_MAILTO; else, with INBOX_IMAP_URL set, its user when that is an address, else
    unsubscribe@<From domain>; with neither, none (a mailto nobody reads is worse than none)."""
    if settings.unsubscribe_mailto:
        return address_for_header(settings.unsubscribe_mailto)
    if settings.inbox_imap_url is None:
        return None
    user = unquote(urlsplit(settings.inbox_imap_url.get_secret_value()).username or "")
    if _ADDR.match(user):
        return user
    return f"unsubscribe@{domain_of(settings.from_address)}"
