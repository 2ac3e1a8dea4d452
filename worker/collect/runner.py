"""run_collect: every source at once, in-process (thread pool, one session per thread).

The admin API's POST /admin/collect calls it in embedded mode (web/admin.py); with a broker
that endpoint queues `collect.all`, which fans the same work out as a Celery group instead.
`digestcast collect` and `digestcast run` go through worker/pipeline.py's `collect.source`
tasks (in threads when embedded), not through here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

from sqlalchemy import select

from worker.collect.collector import CollectResult, collect_source
from worker.collect.fetch import HostSlots
from worker.collect.politeness import host_slots
from worker.collect.sources import sync_sources
from worker.db import session_scope
from worker.models import Source
from worker.settings import Settings
from worker.storage import Storage, get_storage

log = logging.getLogger(__name__)
ProgressCallback = Callable[[int, int, dict[str, Any]], None]


def active_source_ids(settings: Settings) -> list[int]:
    """Sync the sources file, then the ids of the enabled sources (paused ones included:
    collect_source reports them as skipped, so ops see them in every summary)."""
    with session_scope(settings) as session:
        sync_sources(session, settings)
        return list(session.scalars(select(Source.id).where(Source.enabled).order_by(Source.id)))


def collect_one(
    settings: Settings, storage: Storage, source_id: int, slots: HostSlots | None = None
) -> dict[str, Any]:
    try:
        with session_scope(settings) as session:
            return collect_source(session, settings, storage, source_id, slots=slots).as_dict()
    except Exception as exc:  # e.g. the database itself is down: report, keep the others going
        log.exception("collect of source %s crashed", source_id)
        return CollectResult(source=f"#{source_id}", ok=False, error=str(exc)).as_dict()


def run_collect(
    settings: Settings,
    progress_callback: ProgressCallback | None = None,
    *,
    storage: Storage | None = None,
) -> list[dict[str, Any]]:
    """Sync sources and collect each one; returns CollectResult dicts in source order.

    `progress_callback(done, total, result)` is called after each source finishes.
    """
    storage = storage or get_storage(settings)
    ids = active_source_ids(settings)
    slots = host_slots(settings)  # the process's set: per-host politeness across the threads
    results: dict[int, dict[str, Any]] = {}
    workers = max(1, min(settings.collect_concurrency, len(ids)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="collect") as pool:
        futures = {pool.submit(collect_one, settings, storage, sid, slots): sid for sid in ids}
        for done, future in enumerate(as_completed(futures), start=1):
            result = future.result()
            results[futures[future]] = result
            if progress_callback is not None:
                progress_callback(done, len(ids), result)
    return [results[sid] for sid in ids]
