"""The digest as MIME bytes, built once per digest and personalized per recipient by substitution.

`build_message_template` turns the compiled email (email.html/.txt with placeholders) into a
multipart/alternative message whose bytes are a list of literal segments and named slots.
`MessageTemplate.personalize(recipient)` (or `render`, which also says whether the bytes are
safe for SMTP DATA as they are) fills the slots (To, Message-ID, Date,
List-Unsubscribe, the unsubscribe/preferences links and the greeting in both parts) and joins:
one copy of the body per message, no MIME or MJML work per recipient.

Why quoted-printable written by us (worker/digest/wire.py) rather than by the email package: a
QP encoder may put a soft line break anywhere, including inside a placeholder, and base64 mixes
neighbouring bytes.
Our encoder ends every literal segment with a soft line break ("=\\r\\n"), so each slot starts
on a fresh line and a value of any length can be encoded and dropped in without breaking the
76-character line limit or the encoding of what follows.

Header values never carry CR/LF: every value is checked or stripped here (Python 3.11.7 predates
the CVE-2024-6923 fix). Lines end with CRLF (RFC 5322); DKIM (worker/digest/dkimsign.py) signs
the finished bytes and covers both List-Unsubscribe headers (RFC 8058).
"""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from html import escape
from typing import Any

from sqlalchemy.orm import Session

from worker import i18n, newsletters
from worker.digest.content import (
    PLACEHOLDER_GREETING,
    PLACEHOLDER_PREFERENCES,
    PLACEHOLDER_UNSUBSCRIBE,
    text1,
)
from worker.digest.dkimsign import DkimSigner
from worker.digest.headers import (
    MessageError,
    address_for_header,
    domain_of,
    to_header,
    unsubscribe_mailto,
)
from worker.digest.render import line
from worker.digest.wire import CRLF, qp_segment
from worker.digest.wire import clean_piece as clean_piece  # worker/delivery/ imports it here
from worker.edition.lookup import edition_path
from worker.models import Digest
from worker.settings import Settings
from worker.storage import Storage, keys

DKIM_HEADERS = (
    b"From",
    b"To",
    b"Subject",
    b"Date",
    b"Message-ID",
    b"Reply-To",
    b"List-Id",
    b"List-Unsubscribe",
    b"List-Unsubscribe-Post",
    b"Feedback-ID",
    b"MIME-Version",
    b"Content-Type",
)
_PLACEHOLDER = re.compile(
    "(" + "|".join(re.escape(p) for p in (PLACEHOLDER_UNSUBSCRIBE, PLACEHOLDER_PREFERENCES,
                                          PLACEHOLDER_GREETING)) + ")"
)  # fmt: skip
_SLOT_OF = {
    PLACEHOLDER_UNSUBSCRIBE: "unsubscribe",
    PLACEHOLDER_PREFERENCES: "preferences",
    PLACEHOLDER_GREETING: "greeting",
}
# printable ASCII without <, > or spaces; one @
_MSGID = re.compile(r"[!-;=?A-~]+@[!-;=?A-~]+")
_UNSUBSCRIBE_URL = re.compile(r"https?://[A-Za-z0-9.-]+(?::[0-9]+)?/[!#-%'-;=?-~]*")


@dataclass(frozen=True)
class Recipient:
    subscriber_id: int
    email: str
    name: str | None
    message_id: str
    unsubscribe_url: str
    audio_links: bool = True  # Subscriber.wants_audio_links: False gets the edition without


# ---------------------------------------------------------------- headers
def _no_crlf(value: str, what: str) -> str:
    if any(ch in value for ch in "\r\n\x00"):
        raise MessageError(f"{what} contains a line break")
    return value


def _message_id(value: str) -> bytes:
    value = value.strip().removeprefix("<").removesuffix(">")
    if not _MSGID.fullmatch(value):
        raise MessageError(f"malformed Message-ID {value!r}")
    return f"<{value}>".encode("ascii")


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "digest"


def _static_headers(settings: Settings, subject: str, boundary: str, campaign: str | None) -> bytes:
    """From, Reply-To, Subject, List-Id, ... encoded and folded once by the email package."""
    msg = EmailMessage(policy=SMTP)
    msg["From"] = line(settings.from_address)
    if settings.reply_to:
        msg["Reply-To"] = line(settings.reply_to)
    msg["Subject"] = line(subject)
    domain = domain_of(settings.from_address)
    list_id = line(settings.list_id or f"{_slug(settings.newsletter_name)}.{domain}")
    list_id = list_id.strip("<>")
    msg["List-Id"] = f"{line(settings.newsletter_name)} <{list_id}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    if campaign:
        # Gmail's feedback loop groups complaints by these fields (campaign:list:sender)
        msg["Feedback-ID"] = f"{_slug(campaign)}:{_slug(list_id)}:digestcast"
    msg["Precedence"] = "bulk"
    msg["Auto-Submitted"] = "auto-generated"
    msg["MIME-Version"] = "1.0"
    msg["Content-Type"] = f'multipart/alternative; boundary="{boundary}"'
    raw = msg.as_bytes()
    return raw.split(b"\r\n\r\n", 1)[0] + CRLF


# ---------------------------------------------------------------- the template
Segment = bytes | str  # literal bytes, or the name of a per-recipient slot


class MessageTemplate:
    """A digest's message with per-recipient slots; `personalize` is all that runs per send."""

    def __init__(
        self,
        settings: Settings,
        *,
        subject: str,
        html: str,
        text: str,
        html_no_audio: str | None = None,
        text_no_audio: str | None = None,
        boundary: str | None = None,
        campaign: str | None = None,
        lang: str | None = "en",
    ) -> None:
        self.subject = line(subject)
        self._t = i18n.gettext_for(lang)  # the greeting's language: the edition's
        self.boundary = boundary or f"=_digestcast_{secrets.token_hex(12)}"
        self._base = settings.public_base_url.rstrip("/")
        from_domain = domain_of(settings.from_address)
        self._mailto = unsubscribe_mailto(settings)
        self._dkim: DkimSigner | None = None
        if settings.dkim_private_key is not None:
            self._dkim = DkimSigner(
                settings.dkim_selector,
                settings.dkim_domain or from_domain,
                settings.dkim_private_key.read_bytes(),
                DKIM_HEADERS,
            )
        self.campaign = campaign
        self.segments: list[Segment] = self._build(settings, html, text)
        self.segments_no_audio = self.segments
        if html_no_audio is not None and text_no_audio is not None:
            self.segments_no_audio = self._build(settings, html_no_audio, text_no_audio)
        self._neutral_greeting = qp_segment(self._t.gettext("Good morning."))
        # the literal segments are the same for every recipient: checked once here
        self._clean = _literals_clean(self.segments)
        self._clean_no_audio = _literals_clean(self.segments_no_audio)
        self._date_second = -1
        self._date = b""

    def _build(self, settings: Settings, html: str, text: str) -> list[Segment]:
        b = self.boundary.encode("ascii")
        for body in (html, text):
            if self.boundary in body:
                raise MessageError("the MIME boundary occurs in the body")
        segs: list[Segment] = [
            b"To: ",
            "to",
            CRLF + b"Date: ",
            "date",
            CRLF + b"Message-ID: ",
            "message_id",
            CRLF + b"List-Unsubscribe: ",
            "list_unsubscribe",
            CRLF + _static_headers(settings, self.subject, self.boundary, self.campaign),
            CRLF + b"This is a multi-part message in MIME format." + CRLF,
        ]
        for subtype, body in (("plain", text), ("html", html)):
            segs.append(
                b"--" + b + CRLF + b'Content-Type: text/' + subtype.encode() + b'; charset="utf-8"'
                + CRLF + b"Content-Transfer-Encoding: quoted-printable" + CRLF + CRLF
            )  # fmt: skip
            for piece in _PLACEHOLDER.split(body):
                if not piece:
                    continue
                slot = _SLOT_OF.get(piece)
                segs.append(f"{subtype}:{slot}" if slot else qp_segment(piece))
            segs.append(CRLF)
        segs.append(b"--" + b + b"--" + CRLF)
        # merge adjacent literals so personalize joins as few pieces as possible
        merged: list[Segment] = []
        for seg in segs:
            if isinstance(seg, bytes) and merged and isinstance(merged[-1], bytes):
                merged[-1] = merged[-1] + seg
            else:
                merged.append(seg)
        return merged

    def _now(self) -> bytes:
        second = int(time.time())
        if second != self._date_second:
            from datetime import UTC, datetime

            self._date = format_datetime(datetime.fromtimestamp(second, UTC)).encode("ascii")
            self._date_second = second
        return self._date

    def values(self, recipient: Recipient) -> dict[str, bytes]:
        email = address_for_header(recipient.email)
        name = _no_crlf(text1(recipient.name)[:80], "name") if recipient.name else ""
        unsubscribe = recipient.unsubscribe_url.strip()
        # absolute http(s), printable ASCII without spaces, quotes, <, > or & (header and HTML
        # attribute safe as is); the signed token is the last path segment
        if not _UNSUBSCRIBE_URL.fullmatch(unsubscribe):
            raise MessageError(f"malformed unsubscribe URL {recipient.unsubscribe_url!r}")
        # /u/<token> or, for one newsletter, /u/<token>/<slug> (web/leave.py)
        path = unsubscribe.split("://", 1)[-1].split("/", 1)[-1]
        parts = path.rstrip("/").split("/")
        at = parts.index("u") + 1 if "u" in parts[:-1] else len(parts) - 1
        token = parts[at]
        # the mailto leaves what the URL leaves: one newsletter (its slug after the token)
        leave = (
            f"unsubscribe-{token}/{parts[at + 1]}"
            if len(parts) > at + 1
            else f"unsubscribe-{token}"
        )
        preferences = f"{self._base}/preferences/{token}"
        to = to_header(name, email)
        if name:
            # the first name reads as a greeting ("Good morning, Olena."), the full name goes in To
            first = name.split(" ", 1)[0]
            greeting = self._t.gettext("Good morning, %(name)s.") % {"name": first}
            plain_greeting = qp_segment(greeting)
            html_greeting = qp_segment(escape(greeting))
        else:
            plain_greeting = html_greeting = self._neutral_greeting
        unsubscribe_qp = qp_segment(unsubscribe)
        preferences_qp = qp_segment(preferences)
        list_unsubscribe = f"<{unsubscribe}>"
        if self._mailto:
            list_unsubscribe += f",\r\n <mailto:{self._mailto}?subject={leave}>"
        return {
            # UTF-8 only for a non-ASCII local part (RFC 6532; sent with SMTPUTF8)
            "to": to.encode("utf-8"),
            "date": self._now(),
            "message_id": _message_id(recipient.message_id),
            "list_unsubscribe": list_unsubscribe.encode("ascii"),
            "plain:unsubscribe": unsubscribe_qp,
            "plain:preferences": preferences_qp,
            "plain:greeting": plain_greeting,
            "html:unsubscribe": unsubscribe_qp,
            "html:preferences": preferences_qp,
            "html:greeting": html_greeting,
        }

    def personalize(self, recipient: Recipient) -> bytes:
        """The complete RFC 5322 message (CRLF line ends) for one recipient."""
        return self.render(recipient)[0]

    def render(self, recipient: Recipient) -> tuple[bytes, bool]:
        """The recipient's message, and True when its bytes need no line-end fix or
        dot-stuffing for SMTP DATA (`clean_piece` holds for every piece), so the transport can
        skip scanning ~60 KB (measured 135 us a message). Only the per-recipient values, a few
        hundred bytes, are checked per message."""
        return self.sign(*self.render_unsigned(recipient))

    @property
    def signs(self) -> bool:
        """True when `sign` does work (DKIM_PRIVATE_KEY is set): worth doing off the thread."""
        return self._dkim is not None

    def render_unsigned(self, recipient: Recipient) -> tuple[bytes, bool]:
        """`render` without the DKIM signature (then `sign`, possibly on another thread)."""
        values = self.values(recipient)
        if recipient.audio_links:
            segments, clean = self.segments, self._clean
        else:
            segments, clean = self.segments_no_audio, self._clean_no_audio
        message = b"".join([seg if isinstance(seg, bytes) else values[seg] for seg in segments])
        # one check over the values joined by CRLF: unclean if any value is (a leading dot or a
        # bare LF shows across the joins too), ten calls' worth in one
        return message, clean and clean_piece(CRLF.join(values.values()))

    def sign(self, message: bytes, clean: bool) -> tuple[bytes, bool]:
        """The message with its DKIM-Signature on top (as is without a key). Thread-safe: the
        RSA and the body hash run in OpenSSL without the GIL."""
        if self._dkim is None:
            return message, clean
        header = self._dkim.sign(message)
        return header + message, clean and header.endswith(CRLF) and clean_piece(header)


def _literals_clean(segments: list[Segment]) -> bool:
    return all(clean_piece(seg) for seg in segments if isinstance(seg, bytes))


def template_from_storage(storage: Storage, settings: Settings, digest: Digest) -> MessageTemplate:
    files = keys.edition(digest.newsletter, digest.date)
    meta: dict[str, Any] = json.loads(storage.read_bytes(files.email_meta))

    def read(key: str) -> str | None:
        return storage.read_bytes(key).decode("utf-8") if storage.exists(key) else None

    return MessageTemplate(
        settings,
        subject=str(meta.get("subject") or digest.subject),
        html=storage.read_bytes(files.email_html).decode("utf-8"),
        text=storage.read_bytes(files.email_text).decode("utf-8"),
        html_no_audio=read(files.no_audio_html),
        text_no_audio=read(files.no_audio_text),
        campaign=f"digest-{edition_path(digest.newsletter, digest.date).replace('/', '-')}",
        lang=str(meta.get("lang") or "en"),
    )


def build_message_template(
    session: Session, settings: Settings, storage: Storage, digest_id: int
) -> MessageTemplate:
    """The MIME template of a built digest (reads the compiled email; never recompiles)."""
    digest = session.get(Digest, digest_id)
    if digest is None:
        raise LookupError(f"no digest with id {digest_id}")
    if settings.newsletter_slug != digest.newsletter:  # its own From and List-Id
        settings = newsletters.for_edition(settings, digest_id)
    return template_from_storage(storage, settings, digest)
