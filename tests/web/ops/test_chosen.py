"""The console per newsletter: the switcher chooses whose editions Today and Editions show,
and an action on the Ukrainian edition goes through the lifecycle with that edition's key,
leaving the English daily of the same day as it was."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi import HTTPException
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.applications import Starlette
from starlette.requests import Request

from tests.conftest import EXAMPLES
from tests.web.ops.conftest import csrf, sign_in
from web.app import create_app
from web.ops import chosen
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


def _request(settings: Settings, query: str = "") -> Request:
    """A request to an app holding `settings`, as the console's routes receive it."""
    app = Starlette()
    app.state.settings = settings
    scope = {"type": "http", "method": "GET", "path": "/ops/", "query_string": query.encode()}
    return Request({**scope, "headers": [], "app": app})


def test_the_first_newsletter_carries_no_query(settings: Settings) -> None:
    s = settings.model_copy(update={"newsletters": EXAMPLES / "newsletters.toml"})
    request = _request(s)
    assert chosen.slug(request) == chosen.first(s) == "daily"
    assert chosen.query(request) == ""
    assert chosen.key(request, DAY) == ("daily", DAY)
    assert (
        chosen.edition_url(request, DAY, "/edit", note=7) == "/ops/editions/2026-11-27/edit?note=7"
    )
    assert chosen.settings_for(request).newsletter_slug == "daily"


def test_another_newsletter_is_carried_on_every_url(settings: Settings) -> None:
    s = settings.model_copy(update={"newsletters": EXAMPLES / "newsletters.toml"})
    request = _request(s, "newsletter=ukrainian")
    assert chosen.slug(request) == "ukrainian"
    assert chosen.query(request) == "?newsletter=ukrainian"
    assert chosen.edition_url(request, DAY, note=3) == (
        "/ops/editions/2026-11-27?newsletter=ukrainian&note=3"
    )
    assert chosen.settings_for(request).newsletter_slug == "ukrainian"
    context = chosen.switcher(request)
    assert context["chosen"] == "ukrainian" and context["nq"] == "?newsletter=ukrainian"
    assert ("daily", "Ukraine Daily") in context["newsletters"]  # type: ignore[operator]


@pytest.mark.parametrize("wanted", ["no-such-newsletter", "x" * 65])
def test_an_unknown_newsletter_is_404_but_the_switcher_still_renders(
    settings: Settings, wanted: str
) -> None:
    s = settings.model_copy(update={"newsletters": EXAMPLES / "newsletters.toml"})
    request = _request(s, f"newsletter={wanted}")
    with pytest.raises(HTTPException) as raised:
        chosen.slug(request)
    assert raised.value.status_code == 404
    context = chosen.switcher(request)
    assert context["chosen"] == "daily" and context["nq"] == ""
