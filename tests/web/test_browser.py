"""Real browser (Playwright driving Debian's Chromium) against uvicorn on 127.0.0.1.

Subscribe through the form, read the confirmation mail from a real aiosmtpd server, click its
link; play an article's audio (metadata, captions, currentTime advancing); one-click unsubscribe
by POST; a Range request for the middle of the MP3.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from tests.web.browsing import BROWSER_MARKS, Inbox
from tests.web.conftest import add_article_with_audio, add_subscriber, get_subscriber
from worker import db
from worker.models import Subscriber, SubscriberState
from worker.settings import Settings
from worker.storage import LocalStorage
from worker.tokens import unsubscribe_url

pytestmark = BROWSER_MARKS


def test_subscribe_confirm_unsubscribe(
    live: tuple[str, Settings], inbox: tuple[Inbox, int], browser: Any
) -> None:
    base, settings = live
    page = browser.new_page()
    page.goto(f"{base}/subscribe")
    page.fill("#email", "listener@example.org")
    page.fill("#name", "Olena")
    page.click("#subscribe")
    page.wait_for_selector("text=Check your email")

    [message] = inbox[0].wait(1)
    assert message["To"] == "listener@example.org"
    body = message.get_body(("html",))
    assert body is not None
    link = re.search(r'href="([^"]+/confirm/[^"]+)"', body.get_content())
    assert link is not None and link.group(1).startswith(base)
    # open the mail's HTML and click its button, as a reader would
    page.set_content(body.get_content())
    page.click("text=Confirm subscription")
    # the link opens a page with one button; only the button confirms
    page.wait_for_selector("#confirm")
    page.click("#confirm")
    page.wait_for_selector("text=Subscription confirmed")
    assert page.url.startswith(f"{base}/confirm/")
    with db.session_scope(settings) as session:
        sub = session.scalar(select(Subscriber).where(Subscriber.email == "listener@example.org"))
        assert sub is not None and sub.state == SubscriberState.active
        sid = sub.id

    # the unsubscribe page's one button (a form POST with its CSRF token)
    page.goto(unsubscribe_url(settings, sid, get_subscriber(settings, sid).token_nonce))
    assert get_subscriber(settings, sid).state == SubscriberState.active  # GET changed nothing
    page.click("#unsubscribe")
    page.wait_for_selector("text=You are unsubscribed")
    assert get_subscriber(settings, sid).state == SubscriberState.unsubscribed
    page.close()


def test_one_click_post_and_range(
    live: tuple[str, Settings], pw: Any, storage: LocalStorage, mp3_bytes: bytes
) -> None:
    base, settings = live
    sid = add_subscriber(settings, "oneclick@example.org")
    with db.session_scope(settings) as session:
        article = add_article_with_audio(session, storage, mp3_bytes)
        key = f"{article.storage_prefix}/audio.mp3"
    # a fresh request context: no cookies, no auth, as a mail provider posts
    api = pw.request.new_context()
    try:
        r = api.post(
            unsubscribe_url(settings, sid, get_subscriber(settings, sid).token_nonce),
            form={"List-Unsubscribe": "One-Click"},
            max_redirects=0,
        )
        assert r.status == 200
        assert "location" not in r.headers
        assert get_subscriber(settings, sid).state == SubscriberState.unsubscribed
        first, last = len(mp3_bytes) // 3, 2 * len(mp3_bytes) // 3
        r = api.get(f"{base}/media/{key}", headers={"Range": f"bytes={first}-{last}"})
        assert r.status == 206
        assert r.body() == mp3_bytes[first : last + 1]
        assert r.headers["content-range"] == f"bytes {first}-{last}/{len(mp3_bytes)}"
    finally:
        api.dispose()


def test_article_audio_plays(
    live: tuple[str, Settings], browser: Any, storage: LocalStorage, mp3_bytes: bytes
) -> None:
    base, settings = live
    with db.session_scope(settings) as session:
        article_id = add_article_with_audio(session, storage, mp3_bytes).id
    page = browser.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{base}/listen/{article_id}")
    page.wait_for_function(
        "() => document.getElementById('player').readyState >= 1", timeout=15_000
    )
    duration = page.evaluate("document.getElementById('player').duration")
    assert 2.5 < duration < 3.5
    # the caption track is attached and its WebVTT loads
    page.wait_for_function(
        "() => document.querySelector('#player track').readyState === 2", timeout=15_000
    )
    assert page.evaluate("document.getElementById('player').textTracks.length") == 1
    assert page.evaluate("document.getElementById('player').textTracks[0].cues.length") == 1
    page.evaluate("document.getElementById('player').play()")
    page.wait_for_function(
        "() => document.getElementById('player').currentTime > 0.5", timeout=15_000
    )
    assert page.evaluate("document.getElementById('player').error") is None
    assert not [e for e in errors if "Content Security Policy" in e]
    page.close()
