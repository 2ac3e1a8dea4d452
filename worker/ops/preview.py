"""The console's preview of an edition as mailed (a sample recipient's message, split into its
HTML and text parts) and the test send: that message to any address, marked as a test, sent
over the same transport and never written to the ledger (so no count moves)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date
from email import message_from_bytes, policy
from email.message import EmailMessage

from sqlalchemy.orm import Session

from worker.delivery import ledger
from worker.delivery.subscribers import validate_address
from worker.digest.message import Recipient, template_from_storage
from worker.edition.lookup import find
from worker.newsletters import edition_key
from worker.settings import Settings
from worker.storage import Storage, keys

TEST_HEADER = "X-Digestcast-Test"


class NotBuilt(LookupError):
    pass


@dataclass(frozen=True)
class Preview:
    subject: str
    html: str
    text: str
    html_bytes: int
    budget_bytes: int
    degradations: list[str]


def _message(
    session: Session, settings: Settings, storage: Storage, day: date, to: str, tag: str
) -> EmailMessage:
    # the edition of the newsletter `settings` is scoped to (the console's chosen one)
    slug, _ = key = edition_key(settings, day)
    digest = find(session, key)
    if digest is None or not storage.exists(keys.edition(slug, day).email_meta):
        raise NotBuilt(f"no edition of {day.isoformat()} has been built")
    sample = Recipient(
        subscriber_id=0,
        email=to,
        name=None,
        message_id=f"{tag}-{day.isoformat()}-{secrets.token_hex(6)}@{ledger.message_domain(settings)}",
        # a test copy's unsubscribe link names nobody (no row, no nonce): it unsubscribes no one
        unsubscribe_url=f"{settings.public_base_url.rstrip('/')}/u/{tag}",
    )
    raw = template_from_storage(storage, settings, digest).personalize(sample)
    parsed = message_from_bytes(raw, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def preview(session: Session, settings: Settings, storage: Storage, day: date) -> Preview:
    message = _message(session, settings, storage, day, "preview@example.org", "preview")
    html_part = message.get_body(("html",))
    text_part = message.get_body(("plain",))
    digest = find(session, edition_key(settings, day))
    assert digest is not None
    return Preview(
        subject=str(message["Subject"]),
        html=html_part.get_content() if html_part is not None else "",
        text=text_part.get_content() if text_part is not None else "",
        html_bytes=digest.html_bytes,
        budget_bytes=settings.digest_html_budget_bytes,
        degradations=list(digest.degradations or []),
    )


def send_test(
    session: Session, settings: Settings, storage: Storage, day: date, to: str, by: str
) -> str:
    """Mail the edition to `to` as a test: "[TEST]" in the subject, an X-Digestcast-Test
    header naming who asked, no ledger row. Returns the transport's one-line outcome."""
    from worker.delivery.outbound import get_transport

    address = validate_address(to).email
    message = _message(session, settings, storage, day, address, "test")
    subject = str(message["Subject"])
    del message["Subject"]
    message["Subject"] = f"[TEST] {subject}"
    del message["DKIM-Signature"]  # it signed the real subject; a test copy goes unsigned
    message[TEST_HEADER] = f"sent from the ops console by {by}"
    result = get_transport(settings).send(
        ledger.envelope_sender(settings), address, message.as_bytes(policy=policy.SMTP)
    )
    return f"{result.outcome}: {result.code or ''} {result.reply or ''}".strip()
