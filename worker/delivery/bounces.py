"""Bounces that arrive after the relay said 250: delivery status notifications (RFC 3464), and
the other formats mail servers still send (Exim, qmail, Exchange...) through flufl.bounce,
GNU Mailman's detectors.

A relay accepts a message and later fails to deliver it; the report comes back to the envelope
sender (BOUNCE_ADDRESS, with BOUNCE_VERP its `+tag` form). A report counts only when

- it names one of our rows by a verified tag (returned.py: the Message-ID of the returned
  headers, or the VERP address it was delivered to), and
- its recipient is that row's address: Final-Recipient or Original-Recipient (a relay that
  rewrote the address through an alias reports the rewritten one as Final-Recipient and ours
  as Original-Recipient).

Then `Action: failed` is a hard bounce whatever the status class (an expired 4.4.1 is final
too): the row becomes `bounced` and the row's own subscriber is suppressed, never the address
the report happens to name. `Action: delayed` is kept as an event. Reading a report twice
changes nothing the second time.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from email.message import Message
from email.parser import HeaderParser
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.delivery import returned
from worker.delivery.subscribers import suppress
from worker.models import DeliveryEvent, DeliveryState
from worker.settings import Settings

log = logging.getLogger(__name__)
# flufl.bounce logs every detector it tries at INFO: one line per detector per message
logging.getLogger("flufl.bounce").setLevel(logging.WARNING)
BounceVerdict = Literal[
    "bounced", "delayed", "already", "ignored", "not_ours", "wrong_recipient", "unreadable"
]
_STATUS = re.compile(r"([245])\.\d{1,3}\.\d{1,3}")
_BLANK = re.compile(r"\n[ \t]*\n")
DSN_TYPES = ("message/delivery-status", "message/global-delivery-status")
# a DSN's actions that report a delivery problem; delivered/relayed/expanded are fine news
_PROBLEMS = ("failed", "delayed")


@dataclass(frozen=True)
class Bounce:
    recipient: str | None  # Final-Recipient
    original_recipient: str | None  # Original-Recipient (the address before any rewriting)
    action: str  # failed | delayed | delivered | relayed | expanded
    status: str  # e.g. 5.1.1
    diagnostic: str

    @property
    def hard(self) -> bool:
        """Final: `failed` whatever the class (RFC 3464 2.3.3; Postfix reports an expired
        message as failed 4.4.1)."""
        return self.action == "failed"

    @property
    def reason(self) -> str:
        return " ".join(f"bounce {self.status} {self.diagnostic}".split())[:2000]

    def is_for(self, email: str) -> bool:
        return email.lower() in (self.recipient, self.original_recipient)


def _blocks(part: Message) -> list[Message]:
    """The field blocks of a delivery-status part, the first describing the report itself."""
    payload = part.get_payload()
    if part.get_content_type() == "message/delivery-status" and isinstance(payload, list):
        return [block for block in payload if isinstance(block, Message)]
    # message/global-delivery-status (RFC 6533, what Postfix writes about SMTPUTF8 mail) is
    # parsed like an embedded message: read its bytes again as blocks of fields
    raw = part.as_bytes().replace(b"\r\n", b"\n").split(b"\n\n", 1)[-1]
    text = raw.decode("utf-8", "replace")
    return [HeaderParser().parsestr(block) for block in _BLANK.split(text) if block.strip()]


def _dsn(message: Message) -> list[Bounce] | None:
    """The per-recipient blocks of an RFC 3464 report; None if `message` has none."""
    part = next((p for p in message.walk() if p.get_content_type() in DSN_TYPES), None)
    if part is None:
        return None
    found = []
    for block in _blocks(part)[1:]:  # the first block describes the report itself
        action = str(block.get("Action", "")).strip().lower()
        status = _STATUS.search(str(block.get("Status", "")))
        if not action or status is None:
            continue
        found.append(
            Bounce(
                recipient=returned.address(block.get("Final-Recipient")),
                original_recipient=returned.address(block.get("Original-Recipient")),
                action=action,
                status=status.group(0),
                diagnostic=" ".join(str(block.get("Diagnostic-Code", "")).split())[:1000],
            )
        )
    return found


def _detected(message: Message) -> list[Bounce]:
    """Bounces in other formats, by flufl.bounce's heuristics (addresses only, no status)."""
    from flufl.bounce import all_failures

    try:
        temporary, permanent = all_failures(message)
    except Exception:  # a detector tripping on a strange message must not stop the rest
        log.warning("flufl.bounce could not read a message", exc_info=True)
        return []
    found = []
    for action, status, addresses in (
        ("failed", "5.0.0", permanent),
        ("delayed", "4.0.0", temporary - permanent),
    ):
        for raw in sorted(addresses):
            text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
            found.append(
                Bounce(
                    recipient=returned.address(text),
                    original_recipient=None,
                    action=action,
                    status=status,
                    diagnostic="non-standard bounce (flufl.bounce)",
                )
            )
    return found


def parse_report(raw: bytes | Message) -> list[Bounce]:
    """The per-recipient results of a bounce; [] if `raw` is not one."""
    message = raw if isinstance(raw, Message) else returned.parse(raw)
    found = _dsn(message)
    if found is not None:
        return found
    if message.get_content_type() == "multipart/report":
        return []  # another kind of report (a complaint, a read receipt): not a bounce
    return _detected(message)


def is_bounce(message: Message) -> bool:
    return any(b.action in _PROBLEMS for b in parse_report(message))


def record(session: Session, settings: Settings, message: Message) -> list[BounceVerdict]:
    """Apply one bounce to the ledger (the caller commits); one outcome per recipient."""
    found = parse_report(message)
    if not found:
        return ["unreadable"]
    refs = returned.refs(settings.secret_key.get_secret_value(), message)
    target = returned.row_for(session, refs[0]) if refs else None
    if target is None:
        return ["not_ours"] * len(found)
    return [_apply(session, target, bounce) for bounce in found]


def _apply(session: Session, target: returned.Target, bounce: Bounce) -> BounceVerdict:
    delivery, subscriber = target.delivery, target.subscriber
    if bounce.action not in _PROBLEMS:
        return "ignored"  # delivered / relayed / expanded
    if not bounce.is_for(subscriber.email):
        # an address the row was never sent to: forged, or about another list's message
        return "wrong_recipient"
    if bounce.hard:
        if delivery.state == DeliveryState.bounced:
            return "already"
        delivery.state = DeliveryState.bounced
        delivery.last_error = bounce.reason
        delivery.lease_until = None
        session.add(DeliveryEvent(delivery_id=delivery.id, kind="bounced", detail=bounce.reason))
        suppress(session, subscriber.email, bounce.reason)
        return "bounced"
    seen = session.scalar(
        select(DeliveryEvent.id).where(
            DeliveryEvent.delivery_id == delivery.id,
            DeliveryEvent.kind == "delayed",
            DeliveryEvent.detail == bounce.reason,
        )
    )
    if seen is not None:
        return "already"
    session.add(DeliveryEvent(delivery_id=delivery.id, kind="delayed", detail=bounce.reason))
    session.flush()
    return "delayed"


def process(session: Session, settings: Settings, raw: bytes) -> list[BounceVerdict]:
    """One received message: every per-recipient result in it, or ["unreadable"]."""
    try:
        message = returned.parse(raw)
        return record(session, settings, message)
    except Exception:  # a malformed report must not stop the others
        log.warning("unreadable bounce report", exc_info=True)
        session.rollback()
        return ["unreadable"]
