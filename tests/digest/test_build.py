"""build_digest's edges: the briefing call, the Celery task, the stored files."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.orm import Session

from tests.digest.conftest import DAY, Factory, sample_day
from worker.digest.build import build_digest
from worker.models import Article, Digest
from worker.settings import Settings
from worker.storage import LocalStorage


def test_briefing_is_built_for_the_claimed_items_and_shown(
    session: Session,
    settings: Settings,
    storage: LocalStorage,
    factory: Factory,
) -> None:
    seen: list[int] = []

    def fake(s: Session, _settings: Settings, _storage: Any, digest_id: int) -> dict[str, Any]:
        # the items are already claimed when the briefing is asked for
        seen.extend(a.id for a in s.query(Article).filter_by(digest_id=digest_id))
        return {"duration_seconds": 250.0, "bytes": 10, "key": "digests/2026-11-27/briefing.mp3"}

    data = sample_day(factory)
    build_digest(session, settings, storage, DAY, briefing=fake)
    assert set(seen) == {a.id for a in data["stories"] + data["picks"]}
    html = storage.read_bytes("digests/2026-11-27/email.html").decode()
    assert "Listen to today's briefing, 4 min" in html
    no_audio = storage.read_bytes("digests/2026-11-27/email-noaudio.html").decode()
    assert "briefing" not in no_audio.lower() and "/listen/" not in no_audio
    meta = json.loads(storage.read_bytes("digests/2026-11-27/email.json"))
    assert meta["briefing_minutes"] == 4


def test_a_failing_briefing_never_costs_the_email(
    session: Session,
    settings: Settings,
    storage: LocalStorage,
    factory: Factory,
) -> None:
    def broken(*_a: Any) -> None:
        raise RuntimeError("TTS exploded")

    sample_day(factory)
    digest = build_digest(session, settings, storage, DAY, briefing=broken)
    assert digest.article_count == 6
    html = storage.read_bytes("digests/2026-11-27/email.html").decode()
    assert "briefing" not in html.lower().replace("briefing/", "")


def test_task_returns_a_json_safe_summary(
    settings: Settings, factory: Factory, session: Session
) -> None:
    from worker.celery_app import configure
    from worker.digest.tasks import build

    # one story in the briefing: its speech is the audio tests' business, not this one's
    configure(settings.model_copy(update={"briefing_stories": 1}))
    sample_day(factory)
    session.commit()
    result = build.apply(args=[DAY.isoformat()], throw=True).get()
    assert json.loads(json.dumps(result)) == result
    assert result["articles"] == 6 and result["feed_items"] == 10 and result["picks"] == 2
    assert result["state"] == "built" and result["date"] == "2026-11-27"
    assert result["lifecycle"]["action"] == "build" and result["lifecycle"]["from_state"] is None
    session.expire_all()
    digest = session.get(Digest, result["digest_id"])
    assert digest is not None and digest.html_bytes == result["html_bytes"] > 0
    # a second run is the same digest
    again = build.apply(args=[DAY.isoformat()], throw=True).get()
    assert again["digest_id"] == result["digest_id"] and again["articles"] == 6
