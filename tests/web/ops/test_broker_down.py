"""The broker is down when the operator presses Send now: the lifecycle's claim stands, the
page says what failed (no 500) and the audit log has it."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from fastapi.testclient import TestClient

from tests.conftest import free_port, make_settings
from tests.delivery.faults import point_app_at
from tests.web.ops.conftest import sign_in
from web.app import create_app
from worker import db
from worker.edition.lookup import find
from worker.settings import Settings


def test_send_now_with_the_broker_down(console_settings: Settings, tmp_path: Path) -> None:
    dead = console_settings.model_copy(update={"broker_url": f"redis://127.0.0.1:{free_port()}/0"})
    point_app_at(dead)
    try:
        with TestClient(create_app(dead), base_url="https://daily.example.org") as client:
            token = sign_in(client, "operator@example.org")
            r = client.post(
                "/ops/editions/2026-11-27/start",
                data={"csrf_token": token, "reason": "morning send"},
                follow_redirects=True,
            )
            assert r.status_code == 200
            assert "failed:" in r.text and "reconciler" in r.text
            assert "edition-start" in client.get("/ops/audit").text
        with db.session_scope(dead) as session:
            digest = find(session, date(2026, 11, 27))
            assert digest is not None and digest.state == "sending"
    finally:
        point_app_at(make_settings(tmp_path))
