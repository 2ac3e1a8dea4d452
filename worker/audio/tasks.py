"""Celery tasks for audio: thin wrappers around the plain functions (JSON-safe in and out)."""

from __future__ import annotations

from typing import Any

from worker.celery_app import app, current_settings
from worker.db import session_scope
from worker.storage import get_storage


@app.task(name="audio.synthesize")  # type: ignore[untyped-decorator]
def synthesize(article_id: int, force: bool = False) -> dict[str, Any]:
    """`force`: speak it again even when its text is unchanged (the ops console's re-speak,
    after an engine upgrade or a lexicon change)."""
    from worker.audio.synthesis import synthesize_article

    settings = current_settings()
    with session_scope(settings) as session:
        return synthesize_article(
            session, settings, get_storage(settings), int(article_id), force=bool(force)
        )


@app.task(name="audio.podcasts")  # type: ignore[untyped-decorator]
def podcasts() -> dict[str, Any]:
    from worker.audio.podcast import publish_podcasts

    settings = current_settings()
    with session_scope(settings) as session:
        return publish_podcasts(session, settings, get_storage(settings))


@app.task(name="audio.upgrade_fallbacks")  # type: ignore[untyped-decorator]
def upgrade_fallbacks() -> dict[str, Any]:
    from worker.audio.synthesis import upgrade_fallbacks as upgrade

    settings = current_settings()
    with session_scope(settings) as session:
        return upgrade(session, settings, get_storage(settings))


@app.task(name="audio.renormalize")  # type: ignore[untyped-decorator]
def renormalize() -> dict[str, Any]:
    from worker.audio.renormalize import renormalize as run

    settings = current_settings()
    with session_scope(settings) as session:
        return run(session, settings, get_storage(settings))
