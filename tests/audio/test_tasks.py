"""The Celery tasks are thin and JSON-safe (eager, embedded mode)."""

from __future__ import annotations

import json
from collections.abc import Callable

from sqlalchemy.orm import Session

from worker.audio import tasks
from worker.models import Article, Digest
from worker.settings import Settings
from worker.storage import LocalStorage


def test_tasks_run_in_process_and_return_json(
    session: Session,
    settings: Settings,
    storage: LocalStorage,
    make_article: Callable[..., Article],
) -> None:
    digest = Digest(date=make_article().published_day)
    session.add(digest)
    session.commit()
    article = make_article(digest_id=digest.id)
    assert tasks.synthesize.name == "audio.synthesize"
    result = tasks.synthesize.delay(article.id).get()
    assert result["status"] == "synthesized" and result["engine"] == "espeak"
    feeds = tasks.podcasts.delay().get()
    assert feeds["podcast"]["items"] == 1
    upgraded = tasks.upgrade_fallbacks.delay().get()
    assert upgraded["candidates"] == 0
    for value in (result, feeds, upgraded):
        json.dumps(value)
    assert storage.exists(f"{article.storage_prefix}/audio.mp3")
