"""Double opt-in through the form: validation, honeypot, rate limit, every confirm outcome."""

from __future__ import annotations

import mailbox
import re
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.web.conftest import add_subscriber, get_subscriber
from web.app import create_app
from worker import db
from worker.models import Subscriber, SubscriberState, Suppression
from worker.settings import Settings
from worker.tokens import confirm_token


def _form_token(client: TestClient) -> str:
    page = client.get("/subscribe").text
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def _outbox(settings: Settings) -> list[EmailMessage]:
    box = mailbox.Maildir(str(settings.outbox_dir), create=True)
    return [
        message_from_bytes(box.get_bytes(key), policy=policy.default)  # type: ignore[misc]
        for key in box.keys()  # noqa: SIM118 (a Maildir, not a dict)
    ]


def _subscriber(settings: Settings, email: str) -> Subscriber | None:
    with db.session_scope(settings) as session:
        sub = session.scalar(select(Subscriber).where(Subscriber.email == email))
        if sub is not None:
            session.expunge(sub)
        return sub


def _link(message: EmailMessage) -> str:
    text = message.get_body(("plain",))
    assert text is not None
    found = re.search(r"https://daily\.example\.org(/confirm/\S+)", text.get_content())
    assert found is not None
    return found.group(1)


def pending_link(settings: Settings, email: str) -> str:
    """A pending row with an outstanding confirmation, and its link (what the mail carries)."""
    with db.session_scope(settings) as session:
        sub = Subscriber(email=email, state=SubscriberState.pending, confirm_nonce="n0nce-n0nce-1")
        session.add(sub)
        session.flush()
        return f"/confirm/{confirm_token(settings, sub.id, 'n0nce-n0nce-1')}"


def _confirm(client: TestClient, link: str) -> tuple[int, str]:
    """Open the mail's link (a page with one button) and press the button."""
    page = client.get(link)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    if found is None:  # no button: the page is the outcome (invalid, expired, already)
        return page.status_code, page.text
    r = client.post(link, data={"csrf_token": found.group(1)})
    return r.status_code, r.text


def test_subscribe_and_confirm(client: TestClient, web_settings: Settings) -> None:
    token = _form_token(client)
    r = client.post(
        "/subscribe", data={"email": "New.Reader@Example.org", "name": "Ann", "csrf_token": token}
    )
    assert r.status_code == 200 and "Check your email" in r.text
    sub = _subscriber(web_settings, "new.reader@example.org")
    assert sub is not None and sub.state == SubscriberState.pending and sub.name == "Ann"
    [message] = _outbox(web_settings)
    assert message["To"] == "new.reader@example.org"
    assert "Confirm" in message["Subject"]
    assert message.get_body(("html",)) is not None
    link = _link(message)
    # opening the link (as a mail scanner does) changes nothing
    r = client.get(link)
    assert r.status_code == 200 and "Confirm subscription" in r.text
    sub = _subscriber(web_settings, "new.reader@example.org")
    assert sub is not None and sub.state == SubscriberState.pending
    status, text = _confirm(client, link)
    assert status == 200 and "Subscription confirmed" in text
    sub = _subscriber(web_settings, "new.reader@example.org")
    assert sub is not None and sub.state == SubscriberState.active
    assert sub.confirmed_at is not None
    # the same link again: already subscribed, still active
    r = client.get(link)
    assert r.status_code == 200 and "Already subscribed" in r.text


def test_confirm_needs_the_pages_csrf_token(client: TestClient, web_settings: Settings) -> None:
    link = pending_link(web_settings, "forged@example.org")
    r = client.post(link, data={"csrf_token": "forged"})
    assert r.status_code == 403
    sub = _subscriber(web_settings, "forged@example.org")
    assert sub is not None and sub.state == SubscriberState.pending


def test_the_link_does_not_carry_the_address(client: TestClient, web_settings: Settings) -> None:
    import base64

    client.post(
        "/subscribe", data={"email": "quiet@example.org", "csrf_token": _form_token(client)}
    )
    token = _link(_outbox(web_settings)[0]).removeprefix("/confirm/")
    assert "quiet" not in token and "example" not in token
    for part in token.split("."):
        for start in range(4):  # base64 read from any offset
            chunk = part[start:]
            chunk = chunk[: len(chunk) - len(chunk) % 4]
            decoded = base64.urlsafe_b64decode(chunk)
            assert b"quiet" not in decoded and b"example" not in decoded


def test_existing_address_reveals_nothing(client: TestClient, web_settings: Settings) -> None:
    sid = add_subscriber(web_settings, "old@example.org")
    r = client.post(
        "/subscribe",
        data={"email": "old@example.org", "name": "X", "csrf_token": _form_token(client)},
    )
    assert r.status_code == 200 and "Check your email" in r.text
    assert get_subscriber(web_settings, sid).name is None  # a stranger cannot rename it
    assert len(_outbox(web_settings)) == 1


def test_unsubscribed_address_comes_back_only_by_confirming(
    client: TestClient, web_settings: Settings
) -> None:
    sid = add_subscriber(web_settings, "back@example.org", SubscriberState.unsubscribed)
    client.post("/subscribe", data={"email": "back@example.org", "csrf_token": _form_token(client)})
    assert get_subscriber(web_settings, sid).state == SubscriberState.unsubscribed
    _confirm(client, _link(_outbox(web_settings)[0]))
    sub = get_subscriber(web_settings, sid)
    assert sub.state == SubscriberState.active and sub.unsubscribed_at is None


def test_removed_by_ops_comes_back_by_confirming_their_own_address(
    client: TestClient, web_settings: Settings
) -> None:
    """`subscribers remove` keeps a suppression entry, but a person who asks again and confirms
    gave newer consent: the confirmation lifts ops' entry (a bounce's entry stays, below)."""
    from worker.delivery import subscribers

    sid = add_subscriber(web_settings, "again@example.org", SubscriberState.active)
    with db.session_scope(web_settings) as session:
        subscribers.remove(session, "again@example.org")
    client.post(
        "/subscribe", data={"email": "again@example.org", "csrf_token": _form_token(client)}
    )
    _confirm(client, _link(_outbox(web_settings)[0]))
    assert get_subscriber(web_settings, sid).state == SubscriberState.active
    with db.session_scope(web_settings) as session:
        left = session.scalar(select(Suppression).where(Suppression.email == "again@example.org"))
        assert left is None


def test_suppressed_address_gets_no_mail(client: TestClient, web_settings: Settings) -> None:
    with db.session_scope(web_settings) as session:
        session.add(Suppression(email="bounced@example.org", reason="hard bounce"))
    r = client.post(
        "/subscribe", data={"email": "bounced@example.org", "csrf_token": _form_token(client)}
    )
    assert r.status_code == 200
    assert _outbox(web_settings) == []
    assert _subscriber(web_settings, "bounced@example.org") is None


@pytest.mark.parametrize(
    "email", ["", "no-at-sign", "a@b", "a b@example.org", "x@example.org\r\nBcc: y@example.org"]
)
def test_invalid_address(client: TestClient, web_settings: Settings, email: str) -> None:
    r = client.post("/subscribe", data={"email": email, "csrf_token": _form_token(client)})
    assert r.status_code == 400
    assert "valid email address" in r.text
    assert _outbox(web_settings) == []


def test_honeypot(client: TestClient, web_settings: Settings) -> None:
    from prometheus_client import REGISTRY

    def bots() -> float:
        v = REGISTRY.get_sample_value("digestcast_web_subscribe_total", {"outcome": "honeypot"})
        return v or 0.0

    before = bots()
    r = client.post(
        "/subscribe",
        data={
            "email": "bot@example.org",
            "website": "http://spam",
            "csrf_token": _form_token(client),
        },
    )
    assert r.status_code == 200 and "Check your email" in r.text
    assert _subscriber(web_settings, "bot@example.org") is None
    assert _outbox(web_settings) == []
    assert bots() == before + 1


def test_csrf_required(client: TestClient, web_settings: Settings) -> None:
    r = client.post("/subscribe", data={"email": "x@example.org"})
    assert r.status_code == 403
    client.get("/subscribe")  # cookie set, but the forged form has no token
    assert client.post("/subscribe", data={"email": "x@example.org"}).status_code == 403
    assert (
        client.post("/subscribe", data={"email": "x@example.org", "csrf_token": "x"}).status_code
        == 403
    )
    assert _subscriber(web_settings, "x@example.org") is None


def test_rate_limit(web_settings: Settings) -> None:
    s = web_settings.model_copy(update={"subscribe_rate_limit": 2})
    with TestClient(create_app(s), base_url="https://daily.example.org") as c:
        token = _form_token(c)
        codes = [
            c.post(
                "/subscribe", data={"email": f"r{i}@example.org", "csrf_token": token}
            ).status_code
            for i in range(3)
        ]
        assert codes == [200, 200, 429]
        r = c.post("/subscribe", data={"email": "r9@example.org", "csrf_token": token})
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    assert len(_outbox(web_settings)) == 2


def test_confirm_outcomes(client: TestClient, web_settings: Settings) -> None:
    r = client.get("/confirm/not-a-token")
    assert r.status_code == 400 and "Invalid link" in r.text
    import time
    from unittest import mock

    with mock.patch("time.time", return_value=time.time() - 4 * 86400):
        expired = pending_link(web_settings, "late@example.org")  # signed 4 days ago
    r = client.get(expired)
    assert r.status_code == 410 and "expired" in r.text
    assert _subscriber(web_settings, "late@example.org").state == SubscriberState.pending  # type: ignore[union-attr]
    # a link whose row was removed meanwhile does nothing (it used to re-create the row)
    link = pending_link(web_settings, "gone@example.org")
    with db.session_scope(web_settings) as session:
        session.delete(
            session.scalars(select(Subscriber).filter_by(email="gone@example.org")).one()
        )
    status, text = _confirm(client, link)
    assert status == 410 and "no longer works" in text
    assert _subscriber(web_settings, "gone@example.org") is None


def test_concurrent_posts_for_one_address(web_settings: Settings) -> None:
    from concurrent.futures import ThreadPoolExecutor

    s = web_settings.model_copy(update={"subscribe_rate_limit": 100})
    app = create_app(s)

    def post(_: int) -> int:
        with TestClient(app, base_url="https://daily.example.org") as c:
            token = _form_token(c)
            return c.post(
                "/subscribe", data={"email": "race@example.org", "csrf_token": token}
            ).status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        codes = list(pool.map(post, range(6)))
    assert codes == [200] * 6
    with db.session_scope(s) as session:
        rows = session.scalars(select(Subscriber).where(Subscriber.email == "race@example.org"))
        assert len(list(rows)) == 1
