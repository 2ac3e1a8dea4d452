"""Bounces that arrive after the relay said 250: delivery status notifications (RFC 3464).

A relay accepts a message and later fails to deliver it; the report (multipart/report with a
message/delivery-status part) comes back to the envelope sender (`bounce_address`). Reading it
here makes the ledger true: the row becomes `bounced`, the address joins the suppression list
(a hard bounce, status 5.x.x) so no later digest goes to it, and a delayed report (4.x.x)
is kept as an event without changing anything.

The report is matched to its ledger row by the Message-ID of the returned headers, which is
stable per row (`<digest-D.sub-S[.rN]@domain>`, ledger.message_id): no address guessing, and a
report about some other message is counted as not ours. Reading a report twice changes
nothing the second time.
"""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass
from email.message import Message
from email.parser import HeaderParser
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.delivery.subscribers import suppress
from worker.models import Delivery, DeliveryEvent, DeliveryState, Subscriber

Outcome = Literal["bounced", "delayed", "already", "not_ours", "unreadable"]
_OUR_MESSAGE_ID = re.compile(r"<?digest-(\d+)\.sub-(\d+)(?:\.r\d+)?@[^>\s]+>?")
_STATUS = re.compile(r"([245])\.\d{1,3}\.\d{1,3}")


@dataclass(frozen=True)
class Bounce:
    message_id: str | None
    recipient: str | None  # Final-Recipient (or Original-Recipient)
    action: str  # failed | delayed | delivered | relayed | expanded
    status: str  # e.g. 5.1.1
    diagnostic: str

    @property
    def hard(self) -> bool:
        return self.action == "failed" and self.status.startswith("5")

    @property
    def reason(self) -> str:
        return " ".join(f"bounce {self.status} {self.diagnostic}".split())[:2000]


def _address(field: str | None) -> str | None:
    """`rfc822; reader@example.net` -> reader@example.net."""
    if not field:
        return None
    value = field.split(";", 1)[-1].strip().strip("<>").strip()
    return value.lower() or None


def _original_message_id(report: Message) -> str | None:
    for part in report.walk():
        ctype = part.get_content_type()
        if ctype == "message/rfc822":
            payload = part.get_payload()
            inner = payload[0] if isinstance(payload, list) and payload else None
            if isinstance(inner, Message) and inner.get("Message-ID"):
                return str(inner["Message-ID"]).strip()
        elif ctype == "text/rfc822-headers":
            raw = part.get_payload(decode=True)
            if isinstance(raw, bytes):
                headers = HeaderParser().parsestr(raw.decode("utf-8", "replace"))
                if headers.get("Message-ID"):
                    return str(headers["Message-ID"]).strip()
    return None


def parse_report(raw: bytes) -> list[Bounce]:
    """The per-recipient results of a delivery status notification; [] if `raw` is not one."""
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    status_part = next(
        (p for p in message.walk() if p.get_content_type() == "message/delivery-status"), None
    )
    if status_part is None:
        return []
    blocks = status_part.get_payload()
    if not isinstance(blocks, list):
        return []
    message_id = _original_message_id(message)
    bounces = []
    for block in blocks[1:]:  # the first block describes the report itself
        if not isinstance(block, Message):
            continue
        action = str(block.get("Action", "")).strip().lower()
        found = _STATUS.search(str(block.get("Status", "")))
        if not action or found is None:
            continue
        bounces.append(
            Bounce(
                message_id=message_id,
                recipient=_address(block.get("Final-Recipient"))
                or _address(block.get("Original-Recipient")),
                action=action,
                status=found.group(0),
                diagnostic=" ".join(str(block.get("Diagnostic-Code", "")).split())[:1000],
            )
        )
    return bounces


def record(session: Session, bounce: Bounce) -> Outcome:
    """Apply one report to the ledger (the caller commits)."""
    found = _OUR_MESSAGE_ID.fullmatch(bounce.message_id or "")
    if found is None:
        return "not_ours"
    digest_id, subscriber_id = int(found.group(1)), int(found.group(2))
    delivery = session.scalar(
        select(Delivery).where(
            Delivery.digest_id == digest_id, Delivery.subscriber_id == subscriber_id
        )
    )
    if delivery is None:
        return "not_ours"
    if delivery.state == DeliveryState.bounced:
        return "already"
    if not bounce.hard:
        if bounce.action != "delayed":
            return "not_ours"  # delivered/relayed: nothing to do
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
        return "delayed"
    delivery.state = DeliveryState.bounced
    delivery.last_error = bounce.reason
    delivery.lease_until = None
    session.add(DeliveryEvent(delivery_id=delivery.id, kind="bounced", detail=bounce.reason))
    address = bounce.recipient or session.scalar(
        select(Subscriber.email).where(Subscriber.id == subscriber_id)
    )
    if address:
        suppress(session, address, bounce.reason)
    return "bounced"


def process(session: Session, raw: bytes) -> list[Outcome]:
    """One received message: every per-recipient result in it, or ["unreadable"]."""
    try:
        bounces = parse_report(raw)
    except Exception:  # a malformed report must not stop the others
        return ["unreadable"]
    if not bounces:
        return ["unreadable"]
    return [record(session, b) for b in bounces]
