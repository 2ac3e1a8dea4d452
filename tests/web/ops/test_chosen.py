"""The console per newsletter: the switcher chooses whose editions Today and Editions show,
and an action on the Ukrainian edition goes through the lifecycle with that edition's key,
leaving the English daily of the same day as it was."""

from __future__ import annotations

from datetime import date

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.conftest import EXAMPLES
from tests.web.ops.conftest import csrf, sign_in
from web.app import create_app
from worker import db, newsletters
from worker.digest.build import build_digest
from worker.edition import lifecycle
from worker.edition.lookup import find
from worker.models import Delivery, Digest, DigestState
from worker.ops.models import OpsAudit
from worker.settings import Settings
from worker.storage import Storage

DAY = date(2026, 11, 27)


def _no_briefing(session: Session, settings: Settings, storage: Storage, day: date) -> Digest:
    return build_digest(session, settings, storage, day)


def _state_and_rows(settings: Settings, slug: str) -> tuple[DigestState, int]:
    with db.session_scope(settings) as session:
        digest = find(session, (slug, DAY))
        assert digest is not None
        rows = session.scalar(
            select(func.count(Delivery.id)).where(Delivery.digest_id == digest.id)
        )
        return digest.state, int(rows or 0)


def test_acting_on_the_ukrainian_edition_leaves_the_daily_alone(
    console_settings: Settings,
) -> None:
    settings = console_settings.model_copy(update={"newsletters": EXAMPLES / "newsletters.toml"})
    for slug in ("daily", "ukrainian"):
        built = lifecycle.build(
            newsletters.scoped(settings, slug), DAY, builder=_no_briefing, by="test"
        )
        assert built.ok, built.line()
    with TestClient(create_app(settings), base_url="https://daily.example.org") as console:
        sign_in(console, "operator@example.org")
        first = console.get("/ops/")
        assert 'id="newsletter-switcher"' in first.text
        assert '<option value="daily" selected>' in first.text  # the first by default
        today = console.get("/ops/", params={"newsletter": "ukrainian"})
        assert "Україна щодня" in today.text
        assert 'href="/ops/editions/2026-11-27/start?newsletter=ukrainian"' in today.text
        confirm = console.get("/ops/editions/2026-11-27/start?newsletter=ukrainian")
        assert 'action="/ops/editions/2026-11-27/start?newsletter=ukrainian"' in confirm.text
        r = console.post(
            "/ops/editions/2026-11-27/start?newsletter=ukrainian",
            data={"csrf_token": csrf(confirm.text), "reason": "Ukrainian first"},
            follow_redirects=False,
        )
        assert r.status_code == 303
        assert r.headers["location"].startswith(
            "/ops/editions/2026-11-27?newsletter=ukrainian&note="
        )
        assert "edition-start" in console.get(r.headers["location"]).text
        listed = console.get("/ops/editions/", params={"newsletter": "ukrainian"}).text
        assert "?newsletter=ukrainian" in listed
        assert console.get("/ops/", params={"newsletter": "nope"}).status_code == 404
        # a resend from a reader's page names the edition with its newsletter
        with db.session_scope(settings) as session:
            digest = find(session, ("ukrainian", DAY))
            assert digest is not None
            sid = session.scalar(
                select(Delivery.subscriber_id).where(Delivery.digest_id == digest.id).limit(1)
            )
        person = console.get(f"/ops/subscribers/{sid}").text
        assert '<option value="ukrainian/2026-11-27">' in person
        r = console.post(
            f"/ops/subscribers/{sid}/resend",
            data={"csrf_token": csrf(person), "day": "ukrainian/2026-11-27", "reason": "lost"},
            follow_redirects=False,
        )
        assert r.status_code == 303
    ukrainian, daily = _state_and_rows(settings, "ukrainian"), _state_and_rows(settings, "daily")
    assert ukrainian[0] == DigestState.sent and ukrainian[1] > 0
    assert daily == (DigestState.built, 0)  # untouched: not sent, no ledger rows
    with db.session_scope(settings) as session:
        resent = session.scalar(
            select(Delivery.resend_count).where(Delivery.subscriber_id == sid).limit(1)
        )
    assert resent == 1
    with db.session_scope(settings) as session:
        target = session.scalar(select(OpsAudit.target).where(OpsAudit.action == "edition-start"))
    assert target == "2026-11-27"
