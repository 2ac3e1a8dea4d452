"""Celery tasks of the delivery stage: thin wrappers around worker.delivery.service.

`digest.send_batch` only sends rows it claims atomically while the edition is `sending`, so a
redelivered or duplicated batch sends nothing twice (the edition's own tasks, `digest.send`,
`digest.fan_out` and `digest.reconcile`, are the lifecycle's: worker/edition/tasks.py).
"""

from __future__ import annotations

from typing import Any

from worker.celery_app import app, current_settings
from worker.delivery import service


@app.task(name="digest.send_batch", acks_late=True, ignore_result=True)  # type: ignore[untyped-decorator]
def send_batch_task(digest_id: int, delivery_ids: list[int]) -> dict[str, Any]:
    return service.send_batch(current_settings(), digest_id, [int(i) for i in delivery_ids])
