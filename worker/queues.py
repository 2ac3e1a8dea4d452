"""Celery queue names, apart from the app so the CLI can name them without importing Celery.

The bulk send (and every other task) goes on Celery's default queue; one-off mail
(confirmations, editors' approval requests) on its own, so a worker that serves only it
answers within seconds while a big send keeps every other worker busy.
"""

from __future__ import annotations

BULK_QUEUE = "celery"
TRANSACTIONAL_QUEUE = "transactional"
ALL_QUEUES = f"{TRANSACTIONAL_QUEUE},{BULK_QUEUE}"
