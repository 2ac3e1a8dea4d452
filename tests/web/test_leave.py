"""web/leave.py: `/u/{token}/{slug}` takes a subscriber off one newsletter, never suppresses."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.web.conftest import add_subscriber, get_subscriber, subscriber_token
from web.security import CSRF_COOKIE
from worker import db, subscriptions
from worker.models import SubscriberState
from worker.settings import Settings


def slugs(settings: Settings, subscriber_id: int) -> list[str]:
    with db.session_scope(settings) as session:
        return subscriptions.slugs_of(session, subscriber_id)


def test_the_page_shows_one_button_and_changes_nothing(
    client: TestClient, web_settings: Settings
) -> None:
    sid = add_subscriber(web_settings, "reader@example.org")
    token = subscriber_token(web_settings, sid)
    r = client.get(f"/u/{token}/daily")
    assert r.status_code == 200
    assert f'action="/u/{token}/daily"' in r.text
    assert "r***@example.org" in r.text and "reader@example.org" not in r.text
    assert slugs(web_settings, sid) == ["daily"]


def test_one_click_leaves_the_newsletter_without_suppressing(
    client: TestClient, web_settings: Settings
) -> None:
    sid = add_subscriber(web_settings, "reader@example.org")
    token = subscriber_token(web_settings, sid)
    client.cookies.clear()  # mail providers send the one-click POST without cookies
    r = client.post(f"/u/{token}/daily", data={"List-Unsubscribe": "One-Click"})
    assert r.status_code == 200
    assert slugs(web_settings, sid) == []
    assert get_subscriber(web_settings, sid).state == SubscriberState.active


def test_the_form_post_needs_its_csrf_token(client: TestClient, web_settings: Settings) -> None:
    sid = add_subscriber(web_settings, "reader@example.org")
    token = subscriber_token(web_settings, sid)
    r = client.post(f"/u/{token}/daily", data={"csrf_token": "forged"})
    assert "This form expired" in r.text
    assert slugs(web_settings, sid) == ["daily"]
    client.get(f"/u/{token}/daily")
    cookie = client.cookies.get(CSRF_COOKIE)
    assert cookie
    r = client.post(f"/u/{token}/daily", data={"csrf_token": cookie})
    assert r.status_code == 200
    assert slugs(web_settings, sid) == []


def test_bad_tokens_and_unknown_newsletters_are_invalid_links(
    client: TestClient, web_settings: Settings
) -> None:
    sid = add_subscriber(web_settings, "reader@example.org")
    token = subscriber_token(web_settings, sid)
    for path in (f"/u/{token}/no-such-newsletter", "/u/not-a-token/daily"):
        for r in (client.get(path), client.post(path, data={"List-Unsubscribe": "One-Click"})):
            assert "This link is not valid" in r.text, path
            assert r.status_code >= 400, path
    assert slugs(web_settings, sid) == ["daily"]
