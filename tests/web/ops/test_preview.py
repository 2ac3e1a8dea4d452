"""Preview and test send on the sample day (built, not sent): the mailed HTML in a sandboxed
frame, its text part and size; a test goes out marked and touches no ledger row."""

from __future__ import annotations

from datetime import date
from email import message_from_bytes, policy
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.web.ops.conftest import sign_in
from worker import db
from worker.digest.tasks import builder
from worker.edition import lifecycle
from worker.models import Delivery
from worker.settings import Settings

DAY = date(2026, 11, 27)


def test_preview_and_test_send(console: TestClient, console_settings: Settings) -> None:
    assert lifecycle.build(console_settings, DAY, builder=builder(), by="test").ok
    token = sign_in(console, "operator@example.org")
    page = console.get("/ops/editions/2026-11-27/preview")
    assert page.status_code == 200
    assert page.text.count("<iframe sandbox") == 2 and 'width="375"' in page.text
    assert 'width="680"' in page.text and "-byte budget" in page.text
    assert 'id="text-part"' in page.text and "Unsubscribe" in page.text
    frame = console.get("/ops/editions/2026-11-27/email.html")
    assert frame.status_code == 200 and frame.text.lstrip().lower().startswith("<!doctype html")
    assert frame.headers["x-frame-options"] == "SAMEORIGIN"
    csp = frame.headers["content-security-policy"]
    assert "frame-ancestors 'self'" in csp and "sandbox" in csp and "script" not in csp

    r = console.post(
        "/ops/editions/2026-11-27/test-send",
        data={"csrf_token": token, "to": "editor@example.net"},
        follow_redirects=True,
    )
    assert "test-send (editor@example.net): done" in r.text
    [sent] = list((Path(console_settings.outbox_dir) / "new").iterdir())
    message = message_from_bytes(sent.read_bytes(), policy=policy.default)
    assert message["To"] == "editor@example.net"
    assert str(message["Subject"]).startswith("[TEST] ")
    assert "operator@example.org" in str(message["X-Digestcast-Test"])
    with db.session_scope(console_settings) as session:
        assert session.scalar(select(func.count()).select_from(Delivery)) == 0

    bad = console.post(
        "/ops/editions/2026-11-27/test-send", data={"csrf_token": token, "to": "not an address"}
    )
    assert bad.status_code == 400
    console.cookies.clear()
    token = sign_in(console, "viewer@example.org")
    assert 'id="test-send"' not in console.get("/ops/editions/2026-11-27/preview").text
    r = console.post(
        "/ops/editions/2026-11-27/test-send", data={"csrf_token": token, "to": "x@example.net"}
    )
    assert r.status_code == 403
