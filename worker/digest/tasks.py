"""Celery tasks of the digest stage (thin: load, call the lifecycle, return a JSON-safe dict).

`builder()` is where the digest build meets the audio stage: it wires the spoken briefing
(worker.audio.briefing) into build_digest, so the digest modules never import audio.
"""

from __future__ import annotations

import functools
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from worker import newsletters
from worker.celery_app import app, current_settings
from worker.db import session_scope
from worker.digest.build import build_digest, digest_summary
from worker.edition import lifecycle
from worker.edition.lookup import find
from worker.models import Digest
from worker.settings import Settings
from worker.storage import Storage, get_storage


def _briefing(
    session: Session, settings: Settings, storage: Storage, digest_id: int
) -> dict[str, Any] | None:
    from worker.audio.briefing import build_briefing

    return build_briefing(session, settings, storage, digest_id)


def builder() -> lifecycle.Builder:
    """build_digest with the audio stage's briefing: what every road that builds passes."""

    def build(session: Session, settings: Settings, storage: Storage, day: date) -> Digest:
        return build_digest(session, settings, storage, day, briefing=_briefing)

    return functools.update_wrapper(build, build_digest)


@app.task(name="digest.build")  # type: ignore[untyped-decorator]
def build(day_iso: str, by: str = "digest.build", newsletter: str = "") -> dict[str, Any]:
    """Build (or, before sending, rebuild) the edition of Kyiv day `day_iso` (YYYY-MM-DD) of
    `newsletter` (a slug; "": the first) through the lifecycle; returns its summary and what
    the lifecycle said."""
    settings = newsletters.scoped(current_settings(), newsletter or None)
    day = date.fromisoformat(day_iso)
    outcome = lifecycle.build(settings, day, builder=builder(), by=by)
    storage = get_storage(settings)
    with session_scope(settings) as session:
        digest = find(session, newsletters.edition_key(settings, day))
        summary = digest_summary(session, storage, digest) if digest is not None else {}
    return {**summary, "lifecycle": outcome.as_dict()}
