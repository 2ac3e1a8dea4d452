"""Queueing the delivery stage's and the edition's tasks by their Celery names.

Sent by name (`app.send_task`), so whoever queues work (the sender's retries, the fan-out, the
reconciler, the web's one-off mail) need not import the task modules that call back into it:
the names below are the contract, and worker/delivery/tasks.py and worker/edition/tasks.py
register their tasks under them.
"""

from __future__ import annotations

from worker.celery_app import app
from worker.queues import TRANSACTIONAL_QUEUE

SEND_BATCH = "digest.send_batch"
TRANSACTIONAL = "mail.transactional"
FAN_OUT = "digest.fan_out"


def queue_batch(digest_id: int, ids: list[int], countdown: float | None = None) -> None:
    """A batch of ledger rows for a worker (the caller knows a broker is configured)."""
    # ignore_result as the task declares it: nobody waits on a batch
    app.send_task(SEND_BATCH, args=(digest_id, ids), countdown=countdown, ignore_result=True)


def queue_fan_out(digest_id: int) -> None:
    app.send_task(FAN_OUT, args=(digest_id,))


def queue_transactional(
    address: str, subject: str, text: str, html: str | None, newsletter: str | None
) -> None:
    """One-off mail on its own queue, never behind the batches of a bulk send."""
    app.send_task(
        TRANSACTIONAL,
        args=(address, subject, text, html),
        kwargs={"newsletter": newsletter},
        queue=TRANSACTIONAL_QUEUE,
        ignore_result=True,
    )
