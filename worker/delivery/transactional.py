"""One-off mail (double opt-in confirmations, editors' approval requests): queued on its own
Celery queue, `transactional`, never behind the batches of a bulk send.

With a broker the message goes to the `mail.transactional` task (worker/delivery/tasks.py),
served by any worker that consumes that queue (deploy/ starts one that consumes nothing else);
in-process (embedded mode) it is sent right here, and a failure raises to the caller as before.
Queueing fails loudly too (Redis down): the web answers 503 rather than a silent loss.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from worker.delivery import dispatch, ledger
from worker.delivery.outbound import get_transport
from worker.delivery.subscribers import validate_address
from worker.settings import Settings

# a relay refusing for a while: 5, 10, 20 ... 640 s apart, about 21 minutes in all
RETRIES = 8
FIRST_RETRY_SECONDS = 5.0


class DeliveryError(RuntimeError):
    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent  # the relay refused for good (5xx): trying again won't help


def retry_delay(retries: int) -> float:
    return float(FIRST_RETRY_SECONDS * 2 ** max(0, retries))


def send_transactional(
    settings: Settings, to: str, subject: str, text: str, html: str | None = None
) -> None:
    """One message (double opt-in confirmation...) over the same transport; raises on failure."""
    address = validate_address(to).email
    message = EmailMessage()
    message["From"] = settings.from_address
    message["To"] = address
    message["Subject"] = " ".join(subject.split())  # no CR/LF can reach the header
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=ledger.message_domain(settings))
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    result = get_transport(settings).send(
        ledger.envelope_sender(settings), address, message.as_bytes()
    )
    if result.outcome != "sent":
        permanent = result.outcome == "permanent"
        raise DeliveryError(f"{result.outcome}: {result.code} {result.reply}", permanent=permanent)


def send_soon(
    settings: Settings, to: str, subject: str, text: str, html: str | None = None
) -> None:
    """Send one message now (embedded) or queue it on the transactional queue (broker)."""
    if settings.embedded:
        send_transactional(settings, to, subject, text, html)
        return
    address = validate_address(to).email  # a bad address fails here, not in a worker
    # the newsletter's slug travels with the message, so the worker sends it with that
    # newsletter's From (a welcome to the Ukrainian daily is not from the English one)
    subject = " ".join(subject.split())
    dispatch.queue_transactional(address, subject, text, html, settings.newsletter_slug or None)
