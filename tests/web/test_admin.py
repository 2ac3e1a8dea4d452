"""The ops API: auth, status endpoints, collect; resend through the delivery stage."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from tests.web.conftest import ADMIN_TOKEN, add_article_with_audio, add_digest, add_subscriber
from web.app import create_app
from worker import db
from worker.models import Delivery, DeliveryState, DigestState, Source, SourceKind
from worker.settings import Settings
from worker.storage import LocalStorage

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
GETS = ["/admin/sources", "/admin/audio", "/admin/digests/2026-11-27/status"]


@pytest.mark.parametrize("path", GETS)
def test_auth_required(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert client.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get(path, headers={"Authorization": f"Basic {ADMIN_TOKEN}"}).status_code == 401
    assert client.post("/admin/collect").status_code == 401


def test_admin_disabled_without_token(settings: Settings) -> None:
    with TestClient(create_app(settings)) as c:
        r = c.get("/admin/sources", headers=AUTH)
        assert r.status_code == 503
        assert r.json() == {"detail": "admin disabled"}


def test_digest_status(client: TestClient, web_settings: Settings, storage: LocalStorage) -> None:
    assert client.get("/admin/digests/2026-11-27/status", headers=AUTH).status_code == 404
    ids = [add_subscriber(web_settings, f"r{i}@example.org") for i in range(3)]
    with db.session_scope(web_settings) as session:
        digest = add_digest(session, storage)
        for sid, state in zip(
            ids, [DeliveryState.sent, DeliveryState.sent, DeliveryState.failed], strict=True
        ):
            session.add(
                Delivery(
                    digest_id=digest.id, subscriber_id=sid, state=state, message_id=f"<{sid}@x>"
                )
            )
    r = client.get("/admin/digests/2026-11-27/status", headers=AUTH)
    assert r.status_code == 200
    body = r.json()
    assert body["total"] == 3
    assert body["counts"]["sent"] == 2 and body["counts"]["failed"] == 1
    assert body["counts"]["queued"] == 0
    assert body["failing_domains"] == [{"domain": None, "failed": 1}]
    assert client.get("/admin/digests/not-a-date/status", headers=AUTH).status_code == 422


def test_sources_and_audio(
    client: TestClient, web_settings: Settings, storage: LocalStorage, mp3_bytes: bytes
) -> None:
    with db.session_scope(web_settings) as session:
        add_article_with_audio(session, storage, mp3_bytes)
        session.add(
            Source(
                name="Broken",
                url="https://broken.example/feed",
                kind=SourceKind.news_feed,
                consecutive_failures=3,
                last_error="HTTP 500",
                last_error_at=datetime(2026, 11, 27, 6, 0, tzinfo=UTC),
            )
        )
    r = client.get("/admin/sources", headers=AUTH)
    assert r.status_code == 200
    by_name = {s["name"]: s for s in r.json()}
    assert by_name["Broken"]["healthy"] is False
    assert by_name["Broken"]["consecutive_failures"] == 3
    assert by_name["Broken"]["last_error"] == "HTTP 500"
    assert by_name["Sample"]["healthy"] is True
    a = client.get("/admin/audio", headers=AUTH).json()
    assert a["articles"] == 1 and a["without_audio"] == 0
    assert a["counts"]["done"] == 1 and a["engines"] == {"espeak": 1}
    assert a["tts_requests"] == 2


@pytest.mark.parametrize(
    "body",
    [
        {"date": "2026-11-27"},
        {"date": "2026-11-27", "failed": True, "all": True},
        {"date": "2026-11-27", "to": "a@example.org", "failed": True},
        {"date": "2026-11-27", "to": "a@example.org\r\nBcc: x@example.org"},
        {"date": "nope", "failed": True},
    ],
)
def test_resend_validation(client: TestClient, body: dict[str, object]) -> None:
    assert client.post("/admin/resend", json=body, headers=AUTH).status_code == 422


def test_openapi_published(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    for path in ("/admin/resend", "/admin/collect", "/admin/sources", "/admin/audio"):
        assert path in paths
    assert "/admin/digests/{day}/status" in paths
    assert "HTTPBearer" in schema["components"]["securitySchemes"]


def test_resend_through_delivery(
    client: TestClient, web_settings: Settings, storage: LocalStorage
) -> None:
    body = {"date": "2026-11-27", "failed": True, "dry_run": True}
    r = client.post("/admin/resend", json=body, headers=AUTH)
    assert r.status_code == 404  # no digest that day
    ids = [add_subscriber(web_settings, f"f{i}@example.org") for i in range(3)]
    with db.session_scope(web_settings) as session:
        digest = add_digest(session, storage)
        digest.state = DigestState.sent  # a resend is for an edition that went out
        for sid, state in zip(
            ids, [DeliveryState.sent, DeliveryState.failed, DeliveryState.failed], strict=True
        ):
            session.add(
                Delivery(
                    digest_id=digest.id, subscriber_id=sid, state=state, message_id=f"<{sid}@x>"
                )
            )
    r = client.post("/admin/resend", json=body, headers=AUTH)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["dry_run"] is True
    assert out["result"]["selected"] == 2
    assert sorted(out["result"]["sample"]) == ["f1@example.org", "f2@example.org"]
    with db.session_scope(web_settings) as session:
        states = sorted(d.state.value for d in session.query(Delivery))
    assert states == ["failed", "failed", "sent"]  # dry run changed nothing
    r = client.post(
        "/admin/resend", json={"date": "2026-11-27", "to": "stranger@example.org"}, headers=AUTH
    )
    assert r.status_code == 409
    assert "not a subscriber" in r.json()["detail"]
    status = client.get("/admin/digests/2026-11-27/status", headers=AUTH).json()
    assert [(x["mode"], x["by"], x["dry_run"]) for x in status["resends"]] == [
        ("failed", "admin-api", True)
    ]


def test_collect_embedded(client: TestClient, web_settings: Settings, tmp_path: object) -> None:
    import shutil
    from pathlib import Path

    from tests.conftest import EXAMPLES

    assert isinstance(tmp_path, Path)
    feeds = tmp_path / "feeds"
    feeds.mkdir()
    shutil.copy(EXAMPLES / "feeds" / "news-feed.xml", feeds / "news.xml")
    sources = tmp_path / "sources.toml"
    sources.write_text(
        '[[source]]\nname = "News"\nurl = "feeds/news.xml"\nkind = "news-feed"\nlocal = true\n',
        encoding="utf-8",
    )
    s = web_settings.model_copy(update={"sources": sources})
    with TestClient(create_app(s)) as c:
        r = c.post("/admin/collect", headers=AUTH)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["mode"] == "embedded" and out["sources"] == 1
    assert out["results"][0]["ok"] is True
    assert out["results"][0]["new_feed_items"] >= 10


def test_collect_queued_with_broker(web_settings: Settings, redis_url: str) -> None:
    import json

    import redis

    from worker.celery_app import app, configure

    s = web_settings.model_copy(update={"broker_url": redis_url})
    # an earlier test in this process may have closed the app's broker pools while the URL
    # stayed the same (configure() only drops them when it changes): start from fresh ones
    app._pool = None
    app.amqp._producer_pool = None
    configure(s)
    try:
        with TestClient(create_app(s)) as c:
            r = c.post("/admin/collect", headers=AUTH)
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["mode"] == "queued" and out["task_id"]
        raw = redis.Redis.from_url(redis_url).lrange("celery", 0, -1)
        headers = [json.loads(m)["headers"] for m in raw]
        assert any(h["task"] == "collect.all" and h["id"] == out["task_id"] for h in headers)
    finally:
        configure(web_settings)


def test_status_and_metrics_on_both_databases(any_db_settings: Settings) -> None:
    """The grouped counts run on PostgreSQL as well as SQLite."""
    from pydantic import SecretStr

    s = any_db_settings.model_copy(update={"admin_token": SecretStr(ADMIN_TOKEN)})
    storage = LocalStorage(s.data_dir)
    sid = add_subscriber(s, "pg@example.org")
    with db.session_scope(s) as session:
        digest = add_digest(session, storage)
        session.add(
            Delivery(
                digest_id=digest.id, subscriber_id=sid, state=DeliveryState.sent, message_id="<p@x>"
            )
        )
    with TestClient(create_app(s)) as c:
        status = c.get("/admin/digests/2026-11-27/status", headers=AUTH).json()
        assert status["counts"]["sent"] == 1 and status["total"] == 1
        assert c.get("/admin/audio", headers=AUTH).json()["articles"] == 0
        assert c.get("/admin/sources", headers=AUTH).json() == []
        assert "digestcast_db_messages_sent 1.0" in c.get("/metrics").text
        assert c.get("/readyz").status_code == 200


def test_digest_status_reports_the_complaint_rate(
    client: TestClient, web_settings: Settings, storage: LocalStorage
) -> None:
    from worker.models import DeliveryEvent

    ids = [add_subscriber(web_settings, f"c{i}@example.org") for i in range(4)]
    with db.session_scope(web_settings) as session:
        digest = add_digest(session, storage)
        rows = [
            Delivery(digest_id=digest.id, subscriber_id=sid, state=DeliveryState.sent,
                     message_id=f"<{sid}@x>")
            for sid in ids
        ]  # fmt: skip
        session.add_all(rows)
        session.flush()
        session.add(DeliveryEvent(delivery_id=rows[0].id, kind="complaint", detail="abuse"))
    body = client.get("/admin/digests/2026-11-27/status", headers=AUTH).json()
    assert body["complaints"] == 1
    assert body["complaint_rate"] == 0.25
    assert "above 0.1%" in body["complaint_warning"]
