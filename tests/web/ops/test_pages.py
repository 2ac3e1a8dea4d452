"""The console through the real app (TestClient, embedded SQLite, the sample day): login,
roles, CSRF, the Today page and its lifecycle buttons, lookup, resend, audit."""

from __future__ import annotations

from datetime import date

from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.web.ops.conftest import PASSWORD, csrf, sign_in
from worker import db
from worker.edition.lookup import find
from worker.models import Delivery, DeliveryState, DigestState, Subscriber
from worker.ops.models import OpsAudit
from worker.settings import Settings

DAY = date(2026, 11, 27)


def _post(client: TestClient, path: str, token: str, **data: str) -> object:
    return client.post(path, data={"csrf_token": token, **data}, follow_redirects=False)


def _state(settings: Settings) -> DigestState | None:
    with db.session_scope(settings) as session:
        digest = find(session, DAY)
        return DigestState(digest.state) if digest else None


def test_pages_need_a_session_and_login_sets_a_strict_cookie(console: TestClient) -> None:
    r = console.get("/ops/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/ops/login?next=/ops/"
    token = csrf(console.get("/ops/login").text)
    r = console.post(
        "/ops/login",
        data={"email": "viewer@example.org", "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    cookie = r.headers["set-cookie"].lower()
    assert "dc_ops=" in cookie and "httponly" in cookie and "samesite=strict" in cookie
    assert "secure" in cookie
    page = console.get("/ops/")
    assert page.status_code == 200 and "viewer@example.org (viewer)" in page.text
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp


def test_missing_or_wrong_csrf_is_403(console: TestClient) -> None:
    r = console.post("/ops/login", data={"email": "admin@example.org", "password": PASSWORD})
    assert r.status_code == 403
    token = sign_in(console, "operator@example.org")
    r = console.post("/ops/editions/2026-11-27/start", data={"reason": "x"})
    assert r.status_code == 403
    r = _post(console, "/ops/editions/2026-11-27/start", token[:-3] + "abc", reason="x")
    assert r.status_code == 403  # type: ignore[attr-defined]


def test_five_wrong_passwords_lock_the_form(console: TestClient) -> None:
    token = csrf(console.get("/ops/login").text)
    answers = [
        console.post(
            "/ops/login",
            data={"email": "admin@example.org", "password": f"wrong-{n}", "csrf_token": token},
        )
        for n in range(5)
    ]
    assert [a.status_code for a in answers] == [401] * 5
    assert "Too many wrong passwords" in answers[-1].text
    r = console.post(
        "/ops/login",
        data={"email": "admin@example.org", "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 401 and "Too many" in r.text


def test_viewer_sees_no_buttons_and_gets_403_posting(
    console: TestClient, console_settings: Settings
) -> None:
    token = sign_in(console, "operator@example.org")
    r = _post(console, "/ops/editions/2026-11-27/start", token, reason="morning send")
    assert r.status_code == 303  # type: ignore[attr-defined]
    console.cookies.clear()
    token = sign_in(console, "viewer@example.org")
    page = console.get("/ops/editions/2026-11-27")
    assert 'id="action-' not in page.text and "can look but not act" in page.text
    for path in ("/ops/editions/2026-11-27/pause", "/ops/editions/2026-11-27/resend"):
        r = _post(console, path, token, reason="x", mode="failed")
        assert r.status_code == 403, path  # type: ignore[attr-defined]
    # a browser gets the refusal as a page, a script as JSON
    r = console.get("/ops/editions/2026-11-27/pause", headers={"Accept": "text/html"})
    assert r.status_code == 403 and 'id="error"' in r.text and "viewer" in r.text
    r = console.get("/ops/editions/2026-11-27/pause")
    assert r.status_code == 403 and r.json()["detail"].startswith("your role (viewer)")
    sid = _subscriber_id(console_settings, "@")
    assert _post(console, f"/ops/subscribers/{sid}/wipe", token, reason="x").status_code == 403  # type: ignore[attr-defined]
    assert console.get(f"/ops/subscribers/{sid}/export.json").status_code == 403


def _subscriber_id(settings: Settings, part: str) -> int:
    with db.session_scope(settings) as session:
        sid = session.scalar(
            select(Subscriber.id).where(Subscriber.email.contains(part)).order_by(Subscriber.id)
        )
        assert sid is not None
        return int(sid)


def test_send_pause_resume_resend_and_audit(
    console: TestClient, console_settings: Settings
) -> None:
    token = sign_in(console, "operator@example.org")
    today = console.get("/ops/")
    assert "Edition of 2026-11-27" in today.text or "No edition" in today.text
    r = _post(console, "/ops/editions/2026-11-27/start", token, reason="morning send")
    assert r.status_code == 303  # type: ignore[attr-defined]
    assert _state(console_settings) == DigestState.sent  # embedded: sent within the request
    page = console.get(r.headers["location"])  # type: ignore[attr-defined]
    assert 'id="note"' in page.text and "edition-start" in page.text
    assert 'id="count-sent"' in page.text

    # refused by the lifecycle: shown and recorded, nothing changes
    r = _post(console, "/ops/editions/2026-11-27/pause", token, reason="too late")
    page = console.get(r.headers["location"])  # type: ignore[attr-defined]
    assert "refused" in page.text and _state(console_settings) == DigestState.sent

    # a reason is required
    assert _post(console, "/ops/editions/2026-11-27/pause", token, reason=" ").status_code == 400  # type: ignore[attr-defined]

    # lookup and resend to one address
    hits = console.get("/ops/subscribers", params={"q": "@example"})
    sid = _subscriber_id(console_settings, "@")
    person = console.get(f"/ops/subscribers/{sid}")
    assert person.status_code == 200 and 'id="ledger"' in person.text and "sent" in person.text
    assert hits.status_code == 200
    r = _post(console, f"/ops/subscribers/{sid}/resend", token, day="2026-11-27", reason="lost")
    assert r.status_code == 303  # type: ignore[attr-defined]
    with db.session_scope(console_settings) as session:
        resent = session.scalar(select(Delivery.resend_count).where(Delivery.subscriber_id == sid))
        assert resent == 1

    # dry run then resend all: the count first, nothing queued by the dry run
    r = _post(console, "/ops/editions/2026-11-27/resend", token, mode="all", step="dry-run")
    assert r.status_code == 200 and 'id="dry-count"' in r.text  # type: ignore[attr-defined]
    with db.session_scope(console_settings) as session:
        assert session.scalar(select(Delivery).where(Delivery.resend_count == 2)) is None
    r = _post(
        console,
        "/ops/editions/2026-11-27/resend",
        token,
        mode="all",
        step="send",
        reason="template fix",
    )
    assert r.status_code == 303  # type: ignore[attr-defined]
    with db.session_scope(console_settings) as session:
        states = set(session.scalars(select(Delivery.state)))
        assert states == {DeliveryState.sent}

    page = console.get("/ops/editions/2026-11-27")
    assert 'id="resends"' in page.text and "template fix" in page.text and "sent " in page.text
    audit = console.get("/ops/audit", params={"actor": "operator@example.org"})
    for action in ("edition-start", "edition-pause", "resend-to", "resend-dry-run", "resend-all"):
        assert action in audit.text, action
    assert "edition start" in console.get("/ops/audit").text  # the lifecycle's own row
    with db.session_scope(console_settings) as session:
        actors = set(session.scalars(select(OpsAudit.actor)))
    assert "operator@example.org" in actors
