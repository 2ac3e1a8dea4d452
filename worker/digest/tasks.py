"""Celery tasks of the digest stage (thin: load, call the service, return a JSON-safe dict)."""

from __future__ import annotations

from datetime import date
from typing import Any

from worker.celery_app import app, current_settings
from worker.db import session_scope
from worker.digest.service import build_digest, digest_summary
from worker.storage import get_storage


@app.task(name="digest.build")  # type: ignore[untyped-decorator]
def build(day_iso: str) -> dict[str, Any]:
    """Build (or, before sending, rebuild) the digest of Kyiv day `day_iso` (YYYY-MM-DD)."""
    settings = current_settings()
    storage = get_storage(settings)
    with session_scope(settings) as session:
        digest = build_digest(session, settings, storage, date.fromisoformat(day_iso))
        return digest_summary(session, storage, digest)
