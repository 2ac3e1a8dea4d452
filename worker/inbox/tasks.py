"""Celery task of the inbox: a thin wrapper (the beat runs it when INBOX_IMAP_URL is set)."""

from __future__ import annotations

from typing import Any

from worker.celery_app import app, current_settings
from worker.inbox import intake


@app.task(name="inbox.fetch", acks_late=True)  # type: ignore[untyped-decorator]
def fetch_task() -> dict[str, Any]:
    settings = current_settings()
    if settings.inbox_imap_url is None:
        return {"skipped": "INBOX_IMAP_URL is not set"}
    return intake.fetch(settings).as_dict()
