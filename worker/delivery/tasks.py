"""Celery tasks of the delivery stage: thin wrappers around worker.delivery.service.

All idempotent: `digest.send` claims the digest's send once; `digest.send_batch` only sends
rows it claims atomically, so a redelivered or duplicated batch sends nothing twice.
"""

from __future__ import annotations

from typing import Any

from worker.celery_app import app, current_settings
from worker.db import session_scope
from worker.delivery import service


@app.task(name="digest.send", acks_late=True)  # type: ignore[untyped-decorator]
def send_task(digest_id: int) -> dict[str, Any]:
    settings = current_settings()
    with session_scope(settings) as session:
        return service.start_send(session, settings, digest_id)


@app.task(name="digest.send_batch", acks_late=True, ignore_result=True)  # type: ignore[untyped-decorator]
def send_batch_task(digest_id: int, delivery_ids: list[int]) -> dict[str, Any]:
    return service.send_batch(current_settings(), digest_id, [int(i) for i in delivery_ids])


@app.task(name="digest.reconcile", acks_late=True)  # type: ignore[untyped-decorator]
def reconcile_task() -> dict[str, int]:
    """Periodic (beat, every minute): expired leases, lost batches, stalled fan-outs."""
    return service.reconcile(current_settings())
