"""What a message that reached our mailbox is (pure): a complaint, a bounce, an unsubscribe
request or something else (a reply, an auto-reply), in that order of precedence.

An unsubscribe request is what a mail client sends for the `mailto:` of List-Unsubscribe:
`Subject: unsubscribe-<token>`, the token being the one of the reader's unsubscribe URL (signed,
so it is checked, not trusted), with `/<slug>` after it when the message was one newsletter's
(the mailto leaves that newsletter only, as its URL does). Only the message's own Subject is
read: a bounce quotes our headers, List-Unsubscribe included, and must not unsubscribe anybody.
"""

from __future__ import annotations

import re
from email.header import decode_header, make_header
from email.message import Message
from typing import Literal

from worker.delivery import bounces, complaints

Kind = Literal["complaint", "bounce", "unsubscribe", "other"]
# the unsubscribe URL's token (worker/tokens.py): `<id>.<nonce>.<signature>`, or the older
# base64url payload "." signature; URL-safe characters and dots
_TOKEN = re.compile(
    r"\bunsubscribe-([A-Za-z0-9_-]{1,200}(?:\.[A-Za-z0-9_-]{1,200}){1,2})(?:/([a-z0-9-]{1,64}))?"
)


def subject(message: Message) -> str:
    raw = message.get("Subject")
    if raw is None:
        return ""
    try:
        return str(make_header(decode_header(str(raw))))
    except (ValueError, LookupError):  # a broken encoded word: read it as it is
        return str(raw)


def unsubscribe_request(message: Message) -> tuple[str, str | None] | None:
    """(token, newsletter slug or None for everything) of an unsubscribe request."""
    found = _TOKEN.search(subject(message))
    return (found.group(1), found.group(2)) if found else None


def unsubscribe_token(message: Message) -> str | None:
    request = unsubscribe_request(message)
    return request[0] if request else None


def kind(message: Message) -> Kind:
    if complaints.is_complaint_report(message):
        return "complaint"
    if message.get_content_type() == "multipart/report":
        return "bounce" if bounces.parse_report(message) else "other"
    if unsubscribe_token(message) is not None:
        return "unsubscribe"
    # bounces in other formats (flufl.bounce's heuristics) only after the cheap checks
    return "bounce" if bounces.is_bounce(message) else "other"
