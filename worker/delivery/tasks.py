"""Celery tasks of the delivery stage: thin wrappers around sender.py and transactional.py.

`digest.send_batch` only sends rows it claims atomically while the edition is `sending`, so a
redelivered or duplicated batch sends nothing twice (the edition's own tasks, `digest.send`,
`digest.fan_out` and `digest.reconcile`, are the lifecycle's: worker/edition/tasks.py).

With the database down, a batch ends at its first failed statement (its claimed rows whose
sent marks were not confirmed come back through their lease), one line says so, and the task
is retried with a capped backoff until the database answers again; the worker carries on.
`mail.transactional` sends one queued one-off message (worker/delivery/transactional.py);
`delivery.partitions` makes the ledger's monthly partitions ahead (worker/models/partitions.py).
With Redis down, a batch sends on (its rows are in the ledger, not in Redis); only queueing
the retry of its deferred rows waits, for the reconciler.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from worker import db, newsletters, outage
from worker.celery_app import app, current_settings
from worker.delivery import dispatch, sender, transactional
from worker.delivery.subscribers import InvalidAddress
from worker.models import partitions
from worker.queues import TRANSACTIONAL_QUEUE

log = logging.getLogger(__name__)

# retries of one batch during an outage: at the 30 s cap, a quarter of an hour; after that
# the reconciler (every minute, from the beat) dispatches its rows again
MAX_OUTAGE_RETRIES = 40


@app.task(  # type: ignore[untyped-decorator]
    name=dispatch.SEND_BATCH, bind=True, acks_late=True, ignore_result=True, max_retries=None
)
def send_batch_task(self: Any, digest_id: int, delivery_ids: list[int]) -> dict[str, Any]:
    settings = current_settings()
    try:
        result = sender.send_batch(settings, digest_id, [int(i) for i in delivery_ids])
    except Exception as exc:
        if outage.broker_unavailable(exc) and not outage.database_unavailable(exc):
            # the batch is over; queueing its deferred rows' retry needed Redis: they wait,
            # due, in the ledger, and the reconciler dispatches them once Redis is back
            outage.BROKER.failed(exc, "deferred rows wait in the ledger for the reconciler")
            return {"digest_id": digest_id, "broker_unavailable": 1}
        if not outage.database_unavailable(exc) or self.request.retries >= MAX_OUTAGE_RETRIES:
            raise
        outage.DATABASE.failed(exc, "send batches end and are retried with backoff")
        delay = outage.backoff(self.request.retries, settings.outage_backoff_max_seconds)
        raise self.retry(countdown=delay, exc=exc) from None
    outage.DATABASE.ok()
    return result


@app.task(  # type: ignore[untyped-decorator]
    name=dispatch.TRANSACTIONAL,
    bind=True,
    acks_late=True,
    ignore_result=True,
    queue=TRANSACTIONAL_QUEUE,
    max_retries=transactional.RETRIES,
)
def transactional_task(
    self: Any,
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    newsletter: str | None = None,
) -> dict[str, Any]:
    """One message, sent as newsletter `newsletter` (its From; None: the default one); a
    relay that is down or answers 4xx is tried again with backoff, a 5xx is final (logged:
    nobody is waiting on the task)."""
    retry: Exception
    settings = current_settings()
    if newsletter:
        try:
            settings = newsletters.scoped(settings, newsletter)
        except newsletters.NewsletterError as exc:  # removed from the config since queued
            log.warning("transactional mail to %s: %s; sent as the default newsletter", to, exc)
    try:
        transactional.send_transactional(settings, to, subject, text, html)
    except (transactional.DeliveryError, InvalidAddress) as exc:
        if isinstance(exc, InvalidAddress) or exc.permanent:
            log.error("transactional mail to %s refused: %s", to, exc)
            return {"sent": False, "reason": str(exc)}
        retry = exc
    except OSError as exc:  # the relay unreachable
        retry = exc
    else:
        return {"sent": True}
    if self.request.retries >= transactional.RETRIES:
        raise retry
    raise self.retry(countdown=transactional.retry_delay(self.request.retries), exc=retry)


@app.task(name="delivery.partitions", ignore_result=True)  # type: ignore[untyped-decorator]
def partitions_task() -> dict[str, Any]:
    """The ledger's partitions for this month and the next ones (PostgreSQL; the beat, daily)."""
    settings = current_settings()
    with db.get_engine(settings.database_url).begin() as conn:
        made = partitions.ensure_ahead(conn, datetime.now(settings.tz).date())
    if made:
        log.info("ledger partitions made ahead: %s", ", ".join(made))
    return {"made": made}
