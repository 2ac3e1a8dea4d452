"""Liveness, readiness (database, broker) and the Prometheus exposition."""

from __future__ import annotations

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlalchemy.orm import Session

from tests.conftest import make_settings
from tests.web.conftest import add_digest, add_subscriber
from web.app import create_app
from worker import db
from worker.metrics import MESSAGES_SENT
from worker.models import Delivery, DeliveryState
from worker.settings import Settings
from worker.storage import LocalStorage


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _delivery(session: Session, digest_id: int, sid: int, state: DeliveryState) -> None:
    session.add(
        Delivery(digest_id=digest_id, subscriber_id=sid, state=state, message_id=f"<{sid}@x>")
    )


def test_healthz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_ok(client: TestClient) -> None:
    r = client.get("/readyz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "checks": {"database": "ok"}}


def test_readyz_database_down(tmp_path: object) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    # a database in a directory that cannot exist: every connection fails
    s = make_settings(tmp_path, database_url="postgresql+psycopg://nobody@127.0.0.1:1/none")
    with TestClient(create_app(s)) as c:
        r = c.get("/readyz")
    assert r.status_code == 503
    assert r.json()["checks"]["database"].startswith("error")


def test_readyz_broker_down(settings: Settings) -> None:
    s = settings.model_copy(update={"broker_url": "redis://127.0.0.1:1/0"})
    with TestClient(create_app(s)) as c:
        r = c.get("/readyz")
    assert r.status_code == 503
    assert r.json()["checks"] == {"database": "ok", "broker": "error: ConnectionError"}


def test_readyz_and_queue_depth_with_redis(settings: Settings, redis_url: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    client.rpush("celery", b"a", b"b", b"c")
    client.rpush("transactional", b"d")
    s = settings.model_copy(update={"broker_url": redis_url})
    with TestClient(create_app(s)) as c:
        assert c.get("/readyz").status_code == 200
        samples = _samples(c.get("/metrics").text)
    assert samples[("digestcast_queue_depth", (("queue", "celery"),))] == 3
    assert samples[("digestcast_queue_depth", (("queue", "transactional"),))] == 1


def test_metrics(client: TestClient, web_settings: Settings, storage: LocalStorage) -> None:
    sid = add_subscriber(web_settings, "m@example.org")
    sid2 = add_subscriber(web_settings, "n@example.org")
    with db.session_scope(web_settings) as session:
        digest = add_digest(session, storage)
        _delivery(session, digest.id, sid, DeliveryState.sent)
        _delivery(session, digest.id, sid2, DeliveryState.failed)
    before = MESSAGES_SENT._value.get()
    MESSAGES_SENT.inc()
    r = client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    samples = _samples(r.text)
    assert samples[("digestcast_database_up", ())] == 1
    assert samples[("digestcast_db_messages_sent", ())] == 1
    assert samples[("digestcast_db_messages_failed", ())] == 1
    assert samples[("digestcast_deliveries", (("state", "queued"),))] == 0
    assert samples[("digestcast_messages_sent_total", ())] == before + 1
    for name in (
        "digestcast_db_tts_requests",
        "digestcast_db_tts_fallbacks",
        "digestcast_db_source_failures",
    ):
        assert (name, ()) in samples


def test_request_metrics(client: TestClient) -> None:
    client.get("/healthz")
    client.get("/no-such-page")
    samples = _samples(client.get("/metrics").text)
    key = (
        "digestcast_http_requests_total",
        (("endpoint", "healthz"), ("method", "GET"), ("status", "200")),
    )
    assert samples[key] >= 1
    unmatched = (
        "digestcast_http_requests_total",
        (("endpoint", "unmatched"), ("method", "GET"), ("status", "404")),
    )
    assert samples[unmatched] >= 1


def test_readyz_other_broker_down(settings: Settings) -> None:
    s = settings.model_copy(update={"broker_url": "amqp://guest:guest@127.0.0.1:1//"})
    with TestClient(create_app(s)) as c:
        r = c.get("/readyz")
        assert r.status_code == 503
        assert r.json()["checks"]["broker"].startswith("error")
        assert "digestcast_queue_depth" not in c.get("/metrics").text  # LLEN is Redis-only


def test_metrics_token(web_settings: Settings) -> None:
    s = web_settings.model_copy(update={"metrics_token": SecretStr("scrape-me")})
    with TestClient(create_app(s)) as c:
        assert c.get("/metrics").status_code == 401
        assert c.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        r = c.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
        assert r.status_code == 200 and "digestcast_database_up" in r.text


def test_metrics_on_their_own_port_leave_the_site(web_settings: Settings) -> None:
    s = web_settings.model_copy(update={"metrics_port": 9109})
    with TestClient(create_app(s)) as c:
        assert c.get("/metrics").status_code == 404


def test_a_scrape_scans_no_table_of_deliveries(
    web_settings: Settings, storage: LocalStorage
) -> None:
    """The ledger grows by one row per subscriber per day: a scrape reads the latest
    edition's rows through the (digest_id, state) index, never the whole table; and it reads
    the database at most once per METRICS_CACHE_SECONDS."""
    from sqlalchemy import event

    from worker.metrics import DatabaseCollector

    sid = add_subscriber(web_settings, "scan@example.org")
    with db.session_scope(web_settings) as session:
        digest = add_digest(session, storage)
        _delivery(session, digest.id, sid, DeliveryState.sent)
    engine = db.get_engine(web_settings.database_url)
    seen: list[tuple[str, object]] = []

    def grab(_c: object, _cur: object, statement: str, params: object, *_: object) -> None:
        seen.append((statement, params))

    now = [0.0]
    collector = DatabaseCollector(web_settings, clock=lambda: now[0])
    event.listen(engine, "before_cursor_execute", grab)
    try:
        families = {m.name: m for m in collector.collect()}
        assert families["digestcast_db_messages_sent"].samples[0].value == 1
        assert families["digestcast_deliveries_digest_id"].samples[0].value == digest.id
        first = len(seen)
        list(collector.collect())
        assert len(seen) == first  # cached
        now[0] += web_settings.metrics_cache_seconds
        list(collector.collect())
        assert len(seen) == 2 * first
    finally:
        event.remove(engine, "before_cursor_execute", grab)
    with engine.connect() as conn:
        for statement, params in seen[:first]:
            if "deliveries" not in statement:
                continue
            plan = " ".join(
                str(row[-1])
                for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)  # type: ignore[arg-type]
            )
            assert "SEARCH deliveries USING COVERING INDEX" in plan, (statement, plan)
            assert "SCAN deliveries" not in plan, (statement, plan)
