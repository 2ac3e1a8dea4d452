"""Celery tasks of the edition lifecycle: thin wrappers, ids and ISO dates in, dicts out.

`digest.send` starts an edition's send through the lifecycle (the same road as the CLI);
`digest.fan_out` creates and dispatches the rows of an edition the lifecycle put in
`sending` (nothing for any other state); `digest.reconcile` is the beat's minute-by-minute
repair. All idempotent.
"""

from __future__ import annotations

from typing import Any

from worker import newsletters
from worker.celery_app import app, current_settings
from worker.delivery.dispatch import FAN_OUT
from worker.edition import lifecycle
from worker.edition.lookup import find


@app.task(name="digest.send", acks_late=True)  # type: ignore[untyped-decorator]
def send_task(digest_id: int, by: str = "digest.send", force: bool = False) -> dict[str, Any]:
    """Start the send of the edition as it is built (the beat's `schedule.send_digest`
    rebuilds first; `digestcast send` builds through `digest.build`, then starts)."""
    from worker import db

    settings = current_settings()
    with db.session_scope(settings) as session:
        digest = find(session, int(digest_id))
        if digest is None:
            return {"ok": False, "reason": f"digest {digest_id} does not exist"}
        day, slug = digest.date, digest.newsletter
    settings = newsletters.scoped(settings, slug)
    return lifecycle.start(settings, day, by=by, force=force).as_dict()


@app.task(name=FAN_OUT, acks_late=True)  # type: ignore[untyped-decorator]
def fan_out_task(digest_id: int) -> dict[str, Any]:
    return lifecycle.fan_out(current_settings(), int(digest_id))


@app.task(name="digest.reconcile", acks_late=True)  # type: ignore[untyped-decorator]
def reconcile_task() -> dict[str, int]:
    """Periodic (beat, every minute): expired leases, lost batches, stalled fan-outs. With
    the database down it says so once (worker/outage.py) and waits for the next minute."""
    from worker import outage

    try:
        repaired = lifecycle.reconcile(current_settings())
    except Exception as exc:
        if not outage.database_unavailable(exc):
            raise
        outage.DATABASE.failed(exc, "the reconciler tries again next minute")
        return {}
    outage.DATABASE.ok()
    return repaired
