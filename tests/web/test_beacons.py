"""Listen beacons: counters only, no cookie, bad input refused, shown to ops."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.web.conftest import ADMIN_TOKEN, DAY, add_digest
from worker import db, listens
from worker.models import ListenCount
from worker.settings import Settings
from worker.status import gather_status
from worker.storage import LocalStorage


def beacon(client: TestClient, kind: str, target: int, event: str) -> int:
    body = json.dumps({"kind": kind, "id": target, "event": event})
    r = client.post("/beacon", content=body, headers={"Content-Type": "text/plain"})
    assert "set-cookie" not in r.headers
    return r.status_code


def test_beacons_count_and_show(
    client: TestClient, web_settings: Settings, article_id: int, storage: LocalStorage
) -> None:
    with db.session_scope(web_settings) as session:
        digest_id = add_digest(session, storage).id
    for event in ("play", "25", "50", "play", "25"):
        assert beacon(client, "article", article_id, event) == 204
    assert beacon(client, "edition", digest_id, "play") == 204
    assert beacon(client, "briefing", digest_id, "100") == 204
    # an id that names nothing is not counted (no junk rows), and the answer says nothing
    assert beacon(client, "article", 999_999, "play") == 204
    with db.session_scope(web_settings) as session:
        rows = session.scalars(select(ListenCount)).all()
        found = {(r.kind, r.target_id, r.event): r.count for r in rows}
        report = gather_status(session, web_settings, DAY)
    assert found == {
        ("article", article_id, "play"): 2,
        ("article", article_id, "25"): 2,
        ("article", article_id, "50"): 1,
        ("edition", digest_id, "play"): 1,
        ("briefing", digest_id, "100"): 1,
    }
    listening = report["Listening"]
    top = listening[0]
    assert (top["kind"], top["id"], top["plays"], top["25%"], top["50%"], top["75%"]) == (
        "article",
        article_id,
        2,
        2,
        1,
        0,
    )
    assert top["title"]
    # the ops API: behind the bearer token
    assert client.get("/admin/listens").status_code in (401, 403)
    r = client.get("/admin/listens", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert r.status_code == 200
    assert r.json()["plays"] == 3  # two article plays, one edition play
    assert {(t["kind"], t["id"]) for t in r.json()["top"]} == {
        ("article", article_id),
        ("edition", digest_id),
        ("briefing", digest_id),
    }


def test_bad_beacons_refused(client: TestClient) -> None:
    for body in (
        b"",
        b"not json",
        b"[]",
        json.dumps({"kind": "article", "id": 1, "event": "33"}).encode(),
        json.dumps({"kind": "user", "id": 1, "event": "play"}).encode(),
        json.dumps({"kind": "article", "id": True, "event": "play"}).encode(),
        json.dumps({"kind": "article", "id": -1, "event": "play"}).encode(),
        json.dumps({"kind": "article", "id": 2**40, "event": "play"}).encode(),
        json.dumps({"kind": "article", "id": 1, "event": "play", "pad": "x" * 300}).encode(),
        b"\xff\xfe",
    ):
        r = client.post("/beacon", content=body)
        assert r.status_code == 400, body
    assert client.get("/beacon").status_code in (404, 405)


def test_beacon_from_another_site_refused(
    client: TestClient, web_settings: Settings, article_id: int
) -> None:
    body = json.dumps({"kind": "article", "id": article_id, "event": "play"})
    r = client.post("/beacon", content=body, headers={"Origin": "https://elsewhere.example"})
    assert r.status_code == 403
    own = web_settings.public_base_url.rstrip("/")
    assert client.post("/beacon", content=body, headers={"Origin": own}).status_code == 204
    with db.session_scope(web_settings) as session:
        assert session.scalars(select(ListenCount.count)).all() == [1]


def test_a_script_cannot_inflate_the_counts(
    web_settings: Settings, article_id: int, storage: LocalStorage
) -> None:
    from web.app import create_app

    settings = web_settings.model_copy(update={"beacon_rate_limit": 5})
    with TestClient(create_app(settings)) as client:
        codes = [beacon(client, "article", article_id, "play") for _ in range(8)]
    assert codes == [204] * 5 + [429] * 3
    with db.session_scope(settings) as session:
        assert session.scalars(select(ListenCount.count)).all() == [5]


def test_parse_beacon() -> None:
    assert listens.parse_beacon(b'{"kind":"edition","id":3,"event":"75"}') == listens.Beacon(
        "edition", 3, "75"
    )
    assert listens.parse_beacon(b'{"kind":"edition","id":3.0,"event":"75"}') is None
