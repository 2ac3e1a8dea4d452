"""RFC 8058 one-click unsubscribe, the GET page, preferences."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from tests.web.conftest import add_subscriber, get_subscriber, subscriber_token
from worker.models import SubscriberState
from worker.settings import Settings
from worker.storage import LocalStorage
from worker.tokens import unsubscribe_token, unsubscribe_url

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


def _path(settings: Settings, subscriber_id: int) -> str:
    url = unsubscribe_url(
        settings, subscriber_id, get_subscriber(settings, subscriber_id).token_nonce
    )
    assert url.startswith(settings.public_base_url)
    return url.removeprefix(settings.public_base_url)


def test_one_click_post_unsubscribes_without_cookies(
    client: TestClient, web_settings: Settings
) -> None:
    sid = add_subscriber(web_settings, "reader@example.org")
    client.cookies.clear()
    before = REGISTRY.get_sample_value("digestcast_web_unsubscribe_total", {"kind": "one_click"})
    r = client.post(_path(web_settings, sid), data=ONE_CLICK, follow_redirects=False)
    assert r.status_code == 200
    after = REGISTRY.get_sample_value("digestcast_web_unsubscribe_total", {"kind": "one_click"})
    assert after == (before or 0) + 1
    assert "location" not in r.headers
    sub = get_subscriber(web_settings, sid)
    assert sub.state == SubscriberState.unsubscribed
    first_time = sub.unsubscribed_at
    assert first_time is not None
    # idempotent: a second POST answers 200 and keeps the first time
    r = client.post(_path(web_settings, sid), data=ONE_CLICK, follow_redirects=False)
    assert r.status_code == 200
    assert get_subscriber(web_settings, sid).unsubscribed_at == first_time


def test_one_click_multipart_body(client: TestClient, web_settings: Settings) -> None:
    sid = add_subscriber(web_settings, "multi@example.org")
    r = client.post(_path(web_settings, sid), files={"List-Unsubscribe": (None, "One-Click")})
    assert r.status_code == 200
    assert get_subscriber(web_settings, sid).state == SubscriberState.unsubscribed


def test_get_changes_nothing(client: TestClient, web_settings: Settings) -> None:
    sid = add_subscriber(web_settings, "reader@example.org")
    r = client.get(_path(web_settings, sid))
    assert r.status_code == 200
    assert r.text.count("<button") == 1
    assert "r***@example.org" in r.text
    assert get_subscriber(web_settings, sid).state == SubscriberState.active


def test_page_button_posts_with_csrf(client: TestClient, web_settings: Settings) -> None:
    sid = add_subscriber(web_settings, "reader@example.org")
    path = _path(web_settings, sid)
    page = client.get(path).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    # without the token (a forged cross-site form): refused, nothing changes
    r = client.post(path, data={})
    assert r.status_code == 403
    assert get_subscriber(web_settings, sid).state == SubscriberState.active
    r = client.post(path, data={"csrf_token": "forged"})
    assert r.status_code == 403
    r = client.post(path, data={"csrf_token": token.group(1)})
    assert r.status_code == 200
    assert get_subscriber(web_settings, sid).state == SubscriberState.unsubscribed


def test_tampered_and_foreign_tokens_answer_400(client: TestClient, web_settings: Settings) -> None:
    sid = add_subscriber(web_settings, "reader@example.org")
    token = subscriber_token(web_settings, sid)
    foreign = unsubscribe_token(
        web_settings.model_copy(update={"secret_key": web_settings.secret_key.__class__("other")}),
        sid,
        get_subscriber(web_settings, sid).token_nonce,
    )
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    for bad in (tampered, foreign, "garbage", "1"):
        assert client.post(f"/u/{bad}", data=ONE_CLICK).status_code == 400
        assert client.get(f"/u/{bad}").status_code == 400
        assert client.get(f"/preferences/{bad}").status_code == 400
    assert get_subscriber(web_settings, sid).state == SubscriberState.active


def test_deleted_subscriber_is_still_200(client: TestClient, web_settings: Settings) -> None:
    r = client.post(f"/u/{unsubscribe_token(web_settings, 99999, None)}", data=ONE_CLICK)
    assert r.status_code == 200


def test_preferences(client: TestClient, web_settings: Settings) -> None:
    sid = add_subscriber(web_settings, "prefs@example.org")
    path = f"/preferences/{subscriber_token(web_settings, sid)}"
    page = client.get(path)
    assert page.status_code == 200
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    # both boxes unchecked: the browser sends neither field
    r = client.post(path, data={"csrf_token": token.group(1)})
    assert r.status_code == 200 and "saved" in r.text
    sub = get_subscriber(web_settings, sid)
    assert (sub.wants_daily, sub.wants_audio_links) == (False, False)
    r = client.post(path, data={"csrf_token": token.group(1), "wants_audio_links": "on"})
    sub = get_subscriber(web_settings, sid)
    assert (sub.wants_daily, sub.wants_audio_links) == (False, True)
    # without CSRF nothing changes
    assert client.post(path, data={"wants_daily": "on"}).status_code == 403
    assert get_subscriber(web_settings, sid).wants_daily is False


def test_the_link_the_sender_mails_works(
    client: TestClient, web_settings: Settings, storage: LocalStorage
) -> None:
    """The URL a send batch puts in List-Unsubscribe (its ledger row carries the subscriber's
    nonce) is one the app takes; the same id without the nonce is not."""
    from tests.web.conftest import add_digest
    from worker import db
    from worker.delivery import ledger
    from worker.delivery.sender import _recipient
    from worker.models import Delivery

    sid = add_subscriber(web_settings, "mailed@example.org")
    with db.session_scope(web_settings) as session:
        digest = add_digest(session, storage)
        row = Delivery(digest_id=digest.id, subscriber_id=sid, message_id="<m@x>")
        session.add(row)
        session.flush()
        delivery_id = row.id
    with db.get_engine(web_settings.database_url).connect() as conn:
        [loaded] = ledger.load_rows(conn, [delivery_id])
    url = _recipient(web_settings, loaded).unsubscribe_url
    assert loaded.token_nonce == get_subscriber(web_settings, sid).token_nonce is not None
    id_only = unsubscribe_token(web_settings, sid, None)
    assert client.get(f"/preferences/{id_only}").status_code == 400  # not this row's link
    r = client.post(url.removeprefix(web_settings.public_base_url), data=ONE_CLICK)
    assert r.status_code == 200
    assert get_subscriber(web_settings, sid).state == SubscriberState.unsubscribed
