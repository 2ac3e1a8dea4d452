"""web/ops/today.py: the Today and edition pages, their live figures and the confirmation
pages of the lifecycle buttons, through the real app on a database the test fills."""

from __future__ import annotations

from datetime import date

from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.ops.test_today import add_digest, add_rows
from tests.web.ops.conftest import sign_in
from web.ops.today import WARNINGS, unfinished
from worker import db
from worker.models import DeliveryState, DigestState
from worker.ops.models import OpsAudit
from worker.settings import Settings

DAY = date(2026, 11, 27)


def edition(settings: Settings, state: DigestState, day: date = DAY, slug: str = "daily") -> int:
    with db.session_scope(settings) as session:
        return add_digest(session, state, day=day, slug=slug).id


def test_unfinished_says_what_failed_and_what_happens_next() -> None:
    line = unfinished(ConnectionError("broker at redis://x refused " + "x" * 300))
    assert line.startswith("failed: ConnectionError: broker at redis://x refused")
    assert "the reconciler dispatches what is left within a minute" in line
    assert len(line) < 400  # the message is cut, the explanation is not


def test_every_button_has_a_warning() -> None:
    assert set(WARNINGS) == {"start", "approve", "pause", "resume", "cancel"}


# ---------------------------------------------------------------- Today and the editions
def test_today_without_an_edition(bare_console: TestClient) -> None:
    sign_in(bare_console, "viewer@example.org")
    page = bare_console.get("/ops/")
    assert page.status_code == 200
    assert "No edition has been built yet." in page.text


def test_today_shows_the_latest_edition_with_the_buttons_of_the_role(
    bare_console: TestClient, bare_console_settings: Settings
) -> None:
    digest_id = edition(bare_console_settings, DigestState.sending)
    with db.session_scope(bare_console_settings) as session:
        add_rows(session, digest_id, DeliveryState.sent, 3)
        add_rows(session, digest_id, DeliveryState.failed, 2, code=421, error="slow down")
    sign_in(bare_console, "operator@example.org")
    page = bare_console.get("/ops/").text
    assert '<span data-live="described">sending</span>' in page
    assert 'id="count-sent">3<' in page and 'id="count-failed">2<' in page
    assert 'id="action-pause"' in page and 'id="action-cancel"' in page
    assert 'id="action-start"' not in page and 'id="action-approve"' not in page
    assert 'id="action-resend"' in page
    assert 'id="by-code"' in page and "421 slow down" in page


def test_a_viewer_sees_the_figures_but_no_buttons(
    bare_console: TestClient, bare_console_settings: Settings
) -> None:
    edition(bare_console_settings, DigestState.built)
    sign_in(bare_console, "viewer@example.org")
    page = bare_console.get("/ops/editions/2026-11-27").text
    assert 'id="no-actions"' in page and "Your role (viewer) can look but not act." in page
    assert 'id="action-' not in page


def test_an_editor_gets_approve_but_not_cancel_on_a_held_edition(
    bare_console: TestClient, bare_console_settings: Settings
) -> None:
    edition(bare_console_settings, DigestState.held)
    sign_in(bare_console, "editor@example.org")
    page = bare_console.get("/ops/editions/2026-11-27").text
    assert 'id="action-approve"' in page
    assert 'id="action-cancel"' not in page  # allowed by the lifecycle, not by the role


def test_the_editions_list_is_newest_first_and_the_newsletters_own(
    bare_console: TestClient, bare_console_settings: Settings
) -> None:
    edition(bare_console_settings, DigestState.sent, day=date(2026, 11, 25))
    edition(bare_console_settings, DigestState.sent, day=date(2026, 11, 26))
    edition(bare_console_settings, DigestState.sent, day=date(2026, 11, 24), slug="weekly")
    sign_in(bare_console, "viewer@example.org")
    page = bare_console.get("/ops/editions/").text
    assert page.index("2026-11-26") < page.index("2026-11-25")
    assert "2026-11-24" not in page  # the weekly's
    assert bare_console.get("/ops/editions/", params={"newsletter": "nope"}).status_code == 404


def test_an_edition_page_of_a_day_without_one(bare_console: TestClient) -> None:
    sign_in(bare_console, "viewer@example.org")
    assert bare_console.get("/ops/editions/2026-11-27").status_code == 404
    assert bare_console.get("/ops/editions/2026-02-30").status_code == 422
    assert bare_console.get("/ops/editions/2026-11-27/live.json").status_code == 404


def test_pages_need_a_session(bare_console: TestClient) -> None:
    r = bare_console.get("/ops/editions/2026-11-27", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/ops/login")
    # the page's script polls: no session is a 401, not a redirect to a login page
    assert bare_console.get("/ops/editions/2026-11-27/live.json").status_code == 401


# ---------------------------------------------------------------- live.json
def test_live_figures_are_fresh_json(
    bare_console: TestClient, bare_console_settings: Settings
) -> None:
    digest_id = edition(bare_console_settings, DigestState.paused)
    with db.session_scope(bare_console_settings) as session:
        add_rows(session, digest_id, DeliveryState.sent, 1)
        add_rows(session, digest_id, DeliveryState.bounced, 1, code=550)
        add_rows(session, digest_id, DeliveryState.queued, 2)
    sign_in(bare_console, "viewer@example.org")
    r = bare_console.get("/ops/editions/2026-11-27/live.json")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    figures = r.json()
    assert figures["state"] == "paused" and figures["described"] == "paused"
    assert (figures["total"], figures["left"], figures["done"]) == (4, 2, 2)
    assert figures["counts"]["bounced"] == 1
    assert figures["error_rate"] == "50.0%" and figures["eta"] == "-"
    assert figures["allowed"] == ["resume", "cancel"]


# ---------------------------------------------------------------- confirmation pages
def test_the_confirmation_page_names_the_action_and_warns(
    bare_console: TestClient, bare_console_settings: Settings
) -> None:
    edition(bare_console_settings, DigestState.sending)
    sign_in(bare_console, "operator@example.org")
    page = bare_console.get("/ops/editions/2026-11-27/cancel").text
    assert "<h1>Cancel: edition of 2026-11-27</h1>" in page
    assert "It is sending." in page and "Final: rows not sent yet are cancelled" in page
    assert "does not allow this" not in page
    refused = bare_console.get("/ops/editions/2026-11-27/resume").text
    assert "does not allow this in the current state" in refused  # shown, still postable
    assert 'action="/ops/editions/2026-11-27/resume"' in refused


def test_confirming_for_a_day_without_an_edition(bare_console: TestClient) -> None:
    sign_in(bare_console, "operator@example.org")
    page = bare_console.get("/ops/editions/2026-11-27/start").text
    assert "It is not built." in page and "does not allow this" in page


def test_who_may_open_which_confirmation(bare_console: TestClient) -> None:
    may = {
        "viewer": {"pause": 403, "approve": 403},
        "editor": {"approve": 200, "start": 403, "cancel": 403},
        "operator": {"approve": 200, "start": 200, "cancel": 200},  # each role has the ones below
    }
    for who, actions in may.items():
        bare_console.cookies.clear()
        sign_in(bare_console, f"{who}@example.org")
        for action, status in actions.items():
            r = bare_console.get(f"/ops/editions/2026-11-27/{action}")
            assert r.status_code == status, (who, action)


def test_an_unknown_action_is_not_a_page(bare_console: TestClient) -> None:
    sign_in(bare_console, "admin@example.org")
    assert bare_console.get("/ops/editions/2026-11-27/explode").status_code in (404, 422)


# ---------------------------------------------------------------- acting
def test_a_refusal_is_recorded_and_shown_to_its_author_only(
    bare_console: TestClient, bare_console_settings: Settings
) -> None:
    edition(bare_console_settings, DigestState.sent)
    token = sign_in(bare_console, "operator@example.org")
    r = bare_console.post(
        "/ops/editions/2026-11-27/pause",
        data={"csrf_token": token, "reason": "checking"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and "note=" in r.headers["location"]
    with db.session_scope(bare_console_settings) as session:
        row = session.scalars(select(OpsAudit).where(OpsAudit.action == "edition-pause")).one()
        assert (row.actor, row.target, row.reason, row.ok) == (
            "operator@example.org",
            "2026-11-27",
            "checking",
            False,
        )
    page = bare_console.get(r.headers["location"]).text
    assert 'id="note"' in page and "pause refused: it is sent" in page
    bare_console.cookies.clear()
    sign_in(bare_console, "admin@example.org")
    other = bare_console.get(r.headers["location"]).text
    assert 'id="note"' not in other  # someone else's note is not shown
