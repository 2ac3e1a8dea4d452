"""One-off mail (double opt-in confirmations, editors' approval requests): queued on its own
Celery queue, `transactional`, never behind the batches of a bulk send.

With a broker the message goes to the `mail.transactional` task (worker/delivery/tasks.py),
served by any worker that consumes that queue (deploy/ starts one that consumes nothing else);
in-process (embedded mode) it is sent right here, and a failure raises to the caller as before.
Queueing fails loudly too (Redis down): the web answers 503 rather than a silent loss.
"""

from __future__ import annotations

from worker.delivery.subscribers import validate_address
from worker.queues import TRANSACTIONAL_QUEUE
from worker.settings import Settings

# a relay refusing for a while: 5, 10, 20 ... 640 s apart, about 21 minutes in all
RETRIES = 8
FIRST_RETRY_SECONDS = 5.0


def retry_delay(retries: int) -> float:
    return float(FIRST_RETRY_SECONDS * 2 ** max(0, retries))


def send_soon(
    settings: Settings, to: str, subject: str, text: str, html: str | None = None
) -> None:
    """Send one message now (embedded) or queue it on the transactional queue (broker)."""
    from worker.delivery.service import send_transactional

    if settings.embedded:
        send_transactional(settings, to, subject, text, html)
        return
    address = validate_address(to).email  # a bad address fails here, not in a worker
    from worker.delivery.tasks import transactional_task

    # the newsletter's slug travels with the message, so the worker sends it with that
    # newsletter's From (a welcome to the Ukrainian daily is not from the English one)
    transactional_task.apply_async(
        args=(address, " ".join(subject.split()), text, html),
        kwargs={"newsletter": settings.newsletter_slug or None},
        queue=TRANSACTIONAL_QUEUE,
    )
