"""web/ops/people.py: lookup, the subscriber page and its buttons (export, unsuppress, wipe,
resend to one), and the resend page's refusals, through the real app on a bare console."""

from __future__ import annotations

import json
from datetime import date

from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select

from tests.web.ops.conftest import sign_in
from web.ops.people import _brief
from worker import db
from worker.delivery import subscribers
from worker.models import Delivery, Digest, DigestState, Subscriber, Suppression
from worker.ops.models import OpsAudit
from worker.settings import Settings

DAY = date(2026, 11, 27)


def post(client: TestClient, path: str, token: str, **data: str) -> Response:
    r: Response = client.post(path, data={"csrf_token": token, **data}, follow_redirects=False)
    return r


def audit(settings: Settings, action: str) -> OpsAudit:
    with db.session_scope(settings) as session:
        row = session.scalars(select(OpsAudit).where(OpsAudit.action == action)).one()
        session.expunge(row)
        return row


def add_subscriber(settings: Settings, email: str) -> int:
    """As ops add someone (`subscribers add`): active, on the daily, with their domain."""
    with db.session_scope(settings) as session:
        return subscribers.add(session, email).id


def suppress(settings: Settings, email: str, reason: str) -> None:
    with db.session_scope(settings) as session:
        session.add(Suppression(email=email, reason=reason))


# ---------------------------------------------------------------- the note's line
def test_brief_lines() -> None:
    assert _brief({"refused": "it is built"}, DAY) == {
        "line": "2026-11-27: refused: it is built",
        "resend_id": None,
        "day": "2026-11-27",
    }
    dry = _brief({"dry_run": True, "selected": 4, "resend_id": 9}, DAY)
    assert dry["line"] == "2026-11-27: dry run, 4 would be sent again" and dry["resend_id"] == 9
    assert _brief({"selected": 2}, DAY)["line"] == "2026-11-27: 2 queued again"
    assert _brief({}, DAY)["line"] == "2026-11-27: 0 queued again"


# ---------------------------------------------------------------- lookup and the person
def test_lookup_lists_matches_and_says_when_none(
    bare_console: TestClient, bare_console_settings: Settings
) -> None:
    add_subscriber(bare_console_settings, "olena@example.net")
    add_subscriber(bare_console_settings, "ivan@example.org")
    sign_in(bare_console, "viewer@example.org")
    found = bare_console.get("/ops/subscribers", params={"q": "@example.net"}).text
    assert 'id="results"' in found and "olena@example.net" in found
    assert "ivan@example.org" not in found
    none = bare_console.get("/ops/subscribers", params={"q": "<b>nobody</b>"}).text
    assert 'id="none"' in none and "&lt;b&gt;nobody&lt;/b&gt;" in none
    long = bare_console.get("/ops/subscribers", params={"q": "a" * 1000})
    assert long.status_code == 200 and "a" * 321 not in long.text  # echoed back cut to 320


def test_the_subscriber_page(bare_console: TestClient, bare_console_settings: Settings) -> None:
    sid = add_subscriber(bare_console_settings, "olena@example.net")
    suppress(bare_console_settings, "olena@example.net", "hard bounce: 5.1.1")
    with db.session_scope(bare_console_settings) as session:
        digest = Digest(date=DAY, subject="Daily", state=DigestState.sent)
        session.add(digest)
        session.flush()
        session.add(Delivery(digest_id=digest.id, subscriber_id=sid, message_id="<m1@x>"))
    sign_in(bare_console, "operator@example.org")
    page = bare_console.get(f"/ops/subscribers/{sid}").text
    assert '<dd id="sub-state">active</dd>' in page
    assert "hard bounce: 5.1.1" in page.split('id="suppression"', 1)[1].split("</dd>", 1)[0]
    assert "&lt;m1@x&gt;" in page.split('id="ledger"', 1)[1]
    assert '<option value="2026-11-27">2026-11-27</option>' in page  # one newsletter: no label


def test_a_subscriber_that_is_not_there(bare_console: TestClient) -> None:
    sign_in(bare_console, "admin@example.org")
    assert bare_console.get("/ops/subscribers/424242").status_code == 404
    assert bare_console.get("/ops/subscribers/424242/export.json").status_code == 404
    assert bare_console.get("/ops/subscribers/0").status_code in (404, 422)


# ---------------------------------------------------------------- export
def test_export_is_a_download_of_everything_and_is_audited(
    bare_console: TestClient, bare_console_settings: Settings
) -> None:
    sid = add_subscriber(bare_console_settings, "olena@example.net")
    sign_in(bare_console, "operator@example.org")
    r = bare_console.get(f"/ops/subscribers/{sid}/export.json")
    assert r.status_code == 200
    assert r.headers["content-disposition"] == f'attachment; filename="subscriber-{sid}.json"'
    assert r.headers["cache-control"] == "no-store"
    assert "olena@example.net" in json.dumps(r.json())
    row = audit(bare_console_settings, "subscriber-export")
    assert (row.actor, row.target) == ("operator@example.org", "olena@example.net")


# ---------------------------------------------------------------- unsuppress
def test_unsuppress_is_the_admins_and_says_what_it_lifted(
    bare_console: TestClient, bare_console_settings: Settings
) -> None:
    sid = add_subscriber(bare_console_settings, "olena@example.net")
    suppress(bare_console_settings, "olena@example.net", "complaint")
    token = sign_in(bare_console, "operator@example.org")
    assert (
        post(bare_console, f"/ops/subscribers/{sid}/unsuppress", token, reason="x").status_code
        == 403
    )
    bare_console.cookies.clear()
    token = sign_in(bare_console, "admin@example.org")
    r = post(bare_console, f"/ops/subscribers/{sid}/unsuppress", token, reason="asked us")
    assert r.status_code == 303
    assert r.headers["location"].startswith(f"/ops/subscribers/{sid}?note=")
    row = audit(bare_console_settings, "unsuppress")
    assert row.ok and row.detail["line"] == "suppression lifted (was: complaint)"
    with db.session_scope(bare_console_settings) as session:
        assert session.scalars(select(Suppression)).all() == []
    # again: nothing to lift, recorded as not done
    post(bare_console, f"/ops/subscribers/{sid}/unsuppress", token, reason="again")
    with db.session_scope(bare_console_settings) as session:
        last = session.scalars(select(OpsAudit).order_by(OpsAudit.id.desc()).limit(1)).one()
        assert (last.ok, last.detail["line"]) == (False, "was not suppressed")


# ---------------------------------------------------------------- wipe
def test_wipe_needs_the_address_typed_then_erases_but_keeps_the_suppression(
    bare_console: TestClient, bare_console_settings: Settings
) -> None:
    sid = add_subscriber(bare_console_settings, "olena@example.net")
    token = sign_in(bare_console, "admin@example.org")
    wrong = post(bare_console, f"/ops/subscribers/{sid}/wipe", token, reason="gdpr", confirm="x")
    assert wrong.status_code == 400
    r = post(
        bare_console,
        f"/ops/subscribers/{sid}/wipe",
        token,
        reason="gdpr request",
        confirm="  OLENA@example.net ",
    )
    assert r.status_code == 303 and r.headers["location"] == "/ops/subscribers"
    with db.session_scope(bare_console_settings) as session:
        assert session.get(Subscriber, sid) is None
        assert session.scalars(select(Suppression.email)).all() == ["olena@example.net"]
    row = audit(bare_console_settings, "wipe")
    assert row.target == f"subscriber #{sid}"  # not the address it erased
    assert bare_console.get(f"/ops/subscribers/{sid}").status_code == 404


# ---------------------------------------------------------------- resends: refusals
def test_resend_to_one_needs_a_day_and_a_known_newsletter(
    bare_console: TestClient, bare_console_settings: Settings
) -> None:
    sid = add_subscriber(bare_console_settings, "olena@example.net")
    token = sign_in(bare_console, "operator@example.org")
    path = f"/ops/subscribers/{sid}/resend"
    for day in ("", "yesterday", "2026-02-30"):
        r = post(bare_console, path, token, day=day, reason="lost it")
        assert r.status_code == 400, day
    r = post(bare_console, path, token, day="nope/2026-11-27", reason="lost it")
    assert r.status_code == 400
    # no edition that day: the lifecycle refuses, and the refusal is the note
    r = post(bare_console, path, token, day="2026-11-27", reason="lost it")
    assert r.status_code == 303
    row = audit(bare_console_settings, "resend-to")
    assert not row.ok and row.detail["line"].startswith("2026-11-27: refused: ")


def test_the_resend_page_refuses_what_makes_no_sense(bare_console: TestClient) -> None:
    token = sign_in(bare_console, "operator@example.org")
    assert bare_console.get("/ops/editions/2026-11-27/resend").status_code == 404
    path = "/ops/editions/2026-11-27/resend"
    assert post(bare_console, path, token, mode="some", step="dry-run").status_code == 400
    assert post(bare_console, path, token, mode="to", to="  ", step="dry-run").status_code == 400
