"""Celery tasks of the collect stage: thin wrappers around the service functions."""

from __future__ import annotations

from typing import Any

from celery import group

from worker.celery_app import app, current_settings
from worker.collect.collector import collect_source
from worker.collect.runner import active_source_ids
from worker.db import session_scope
from worker.storage import get_storage


@app.task(name="collect.source")  # type: ignore[untyped-decorator]
def collect_source_task(source_id: int, chain_audio: bool = True) -> dict[str, Any]:
    """Collect one source; with a broker, queue audio.synthesize for each new/edited article
    (pass chain_audio=False when the caller schedules audio itself, as `digestcast run` may)."""
    settings = current_settings()
    with session_scope(settings) as session:
        result = collect_source(session, settings, get_storage(settings), source_id).as_dict()
    if chain_audio and not settings.embedded:
        # production: new or edited articles get (re)spoken by whichever worker is free;
        # embedded, the pipeline calls audio itself after collecting
        for article_id in [*result["new_articles"], *result["updated_articles"]]:
            app.signature("audio.synthesize", args=[article_id]).delay()
    return result


@app.task(name="collect.all")  # type: ignore[untyped-decorator]
def collect_all_task() -> dict[str, Any]:
    settings = current_settings()
    ids = active_source_ids(settings)
    job = group(collect_source_task.s(sid) for sid in ids).apply_async()
    if settings.embedded:
        # eager: the group already ran; report its results
        return {"sources": len(ids), "results": job.get(disable_sync_subtasks=False)}
    # never wait on subtasks inside a task with a broker: report what was dispatched
    return {"sources": len(ids), "dispatched": ids, "group_id": job.id}
