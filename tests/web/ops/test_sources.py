"""Sources and audio page on the sample day: health, check now, resume, re-speak."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.web.ops.conftest import sign_in
from worker import db
from worker.models import Article, Audio, AudioState, Source, utcnow
from worker.settings import Settings


def test_sources_check_resume_and_respeak(console: TestClient, console_settings: Settings) -> None:
    with db.session_scope(console_settings) as session:
        source = session.scalars(select(Source).order_by(Source.id)).first()
        assert source is not None
        source.paused_at, source.consecutive_failures = utcnow(), 5
        source.last_error = "HTTP 404 Not Found"
        sid, name = source.id, source.name
        article_id = session.scalars(select(Article.id).order_by(Article.id)).first()
    token = sign_in(console, "viewer@example.org")
    page = console.get("/ops/sources")
    assert page.status_code == 200 and name in page.text and "paused" in page.text
    assert "HTTP 404 Not Found" in page.text and 'id="check-' not in page.text
    r = console.post(f"/ops/sources/{sid}/check", data={"csrf_token": token})
    assert r.status_code == 403

    console.cookies.clear()
    token = sign_in(console, "operator@example.org")
    r = console.post(f"/ops/sources/{sid}/check", data={"csrf_token": token}, follow_redirects=True)
    assert r.status_code == 200 and "source-check" in r.text and " items" in r.text
    r = console.post(
        f"/ops/sources/{sid}/resume",
        data={"csrf_token": token, "reason": "feed is back"},
        follow_redirects=True,
    )
    assert "resumed, failures reset" in r.text
    with db.session_scope(console_settings) as session:
        source = session.get(Source, sid)
        assert source is not None and source.paused_at is None
        assert source.consecutive_failures == 0

    r = console.post(
        f"/ops/articles/{article_id}/respeak",
        data={"csrf_token": token, "reason": "new lexicon"},
        follow_redirects=True,
    )
    assert "respeak" in r.text and "synthesized by espeak" in r.text
    with db.session_scope(console_settings) as session:
        audio = session.scalar(select(Audio).where(Audio.article_id == article_id))
        assert audio is not None and audio.state in (AudioState.done, AudioState.fallback)
        assert audio.engine == "espeak"
    audit = console.get("/ops/audit").text
    for action in ("source-check", "source-resume", "respeak"):
        assert action in audit
