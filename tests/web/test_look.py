"""Every page in a real browser: axe-core finds no serious or critical accessibility violation,
nothing overflows sideways at 320, 375 and 1280 px, the stylesheet and favicon load, and a
screenshot of each lands in the test's temporary folder (look at them when changing the CSS)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.web.browsing import BROWSER_MARKS
from tests.web.conftest import add_digest, add_subscriber, subscriber_token, tone_mp3
from tests.web.test_player import CUES, PARAGRAPHS, spoken_article
from worker import db
from worker.models import Digest, DigestState, Subscriber
from worker.settings import Settings
from worker.storage import LocalStorage
from worker.tokens import confirm_token

pytestmark = BROWSER_MARKS

WIDTHS = (320, 375, 1280)
SCREENSHOT_WIDTHS = (375, 1280)


@pytest.fixture
def site(live: tuple[str, Settings], storage: LocalStorage) -> dict[str, str]:
    """One URL per page kind, with the rows and files each needs."""
    base, settings = live
    with db.session_scope(settings) as session:
        digest = add_digest(session, storage)
        article = spoken_article(
            storage, session, tone_mp3(1.0), "Kyiv's power grid holds through the cold snap", digest
        )
        day = digest.date.isoformat()
        article_id = article.id
        # the day's spoken briefing: its page carries the player too
        storage.write_bytes(f"digests/{day}/briefing.mp3", tone_mp3(1.0))
        storage.write_bytes(f"digests/{day}/briefing.vtt", CUES.encode())
        storage.write_bytes(f"digests/{day}/briefing.txt", "\n\n".join(PARAGRAPHS).encode())
    sid = add_subscriber(settings, "reader@example.org")
    token = subscriber_token(settings, sid)
    pending = add_subscriber(settings, "pending@example.org")
    with db.session_scope(settings) as session:
        row = session.get(Subscriber, pending)
        assert row is not None
        row.confirm_nonce = "n" * 16
    return {
        "subscribe": f"{base}/subscribe",
        "confirm": f"{base}/confirm/{confirm_token(settings, pending, 'n' * 16)}",
        "preferences": f"{base}/preferences/{token}",
        "unsubscribe": f"{base}/u/{token}",
        "listen": f"{base}/listen/{article_id}",
        "briefing": f"{base}/briefing/{day}",
        "edition": f"{base}/edition/{day}",
        "archive": f"{base}/digests/",
        "not found": f"{base}/listen/999999",
    }


def serious(page: Any) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def test_every_page_accessible_and_fits(site: dict[str, str], browser: Any, tmp_path: Path) -> None:
    problems: list[str] = []
    failed: list[str] = []
    for dark in (False, True):
        context = browser.new_context(color_scheme="dark" if dark else "light")
        page = context.new_page()
        # ERR_ABORTED is the next goto cancelling a request still in flight (Chromium fetches
        # the favicon after `load`); an error answer is caught by the response handler below
        page.on(
            "requestfailed",
            lambda r: (
                failed.append(f"{r.failure} {r.url}") if r.failure != "net::ERR_ABORTED" else None
            ),
        )
        page.on(
            "response",
            lambda r: (
                failed.append(f"{r.status} {r.url}")
                if r.status >= 400 and "999999" not in r.url
                else None
            ),
        )
        for name, url in site.items():
            for width in WIDTHS:
                page.set_viewport_size({"width": width, "height": 900})
                page.goto(url)
                page.wait_for_load_state("load")
                overflow = page.evaluate(
                    "document.documentElement.scrollWidth - document.documentElement.clientWidth"
                )
                if overflow > 0:
                    problems.append(f"{name} overflows by {overflow}px at {width}px")
                if width in SCREENSHOT_WIDTHS:
                    slug = "-".join(name.split())
                    shot = tmp_path / f"{slug}-{width}{'-dark' if dark else ''}.png"
                    page.screenshot(path=str(shot), full_page=True)
            # the stylesheet applied: the masthead's blue rule and the serif headline
            assert (
                page.evaluate(
                    "getComputedStyle(document.querySelector('.site-header')).borderTopWidth"
                )
                == "6px"
            ), name
            assert "Georgia" in page.evaluate(
                "getComputedStyle(document.querySelector('h1')).fontFamily"
            )
            problems += [f"{name}{' (dark)' if dark else ''}: {v}" for v in serious(page)]
        assert not failed, failed
        context.close()
    assert not problems, "\n".join(problems)


def test_skip_link_and_focus(site: dict[str, str], browser: Any) -> None:
    page = browser.new_page()
    page.goto(site["subscribe"])
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    assert page.is_visible(".skip-link")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"  # a visible focus ring
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    page.close()


def test_open_graph_card_and_local_time(site: dict[str, str], browser: Any) -> None:
    page = browser.new_page()
    page.goto(site["listen"])
    og = {
        m.get_attribute("property"): m.get_attribute("content")
        for m in page.query_selector_all("meta[property^='og:']")
    }
    assert og["og:title"] == "Kyiv's power grid holds through the cold snap"
    assert og["og:type"] == "article"
    assert og["og:url"].endswith(site["listen"].split("://", 1)[1].split("/", 1)[1])
    assert og["og:image"].endswith("/static/cover.png")
    assert og["og:audio"].endswith("/audio.mp3")
    # published 05:00 UTC on 27 November: 07:00 in Kyiv (EET, UTC+2)
    assert "07:00 Kyiv time" in page.inner_text(".meta")
    assert page.request.get(og["og:image"].replace("http://testserver", "")).status == 200
    page.close()


def test_archive_lists_only_editions_that_went_out(
    live: tuple[str, Settings], storage: LocalStorage, browser: Any
) -> None:
    """Sent, sending and paused editions are public; a built or held one is not yet (editors
    may still change it), a skipped, missed or cancelled one never is."""
    from datetime import date

    base, settings = live
    public = {date(2026, 11, 20): DigestState.sent, date(2026, 11, 21): DigestState.sending}
    public[date(2026, 11, 22)] = DigestState.paused
    hidden = {
        date(2026, 11, 23): DigestState.built,
        date(2026, 11, 24): DigestState.held,
        date(2026, 11, 25): DigestState.skipped,
        date(2026, 11, 26): DigestState.missed,
        date(2026, 11, 27): DigestState.cancelled,
    }
    with db.session_scope(settings) as session:
        for day, state in (public | hidden).items():
            add_digest(session, storage, day, state)
    page = browser.new_page()
    page.goto(f"{base}/digests/")
    links = [a.get_attribute("href") for a in page.query_selector_all("ol.days a.headline")]
    assert links == [f"/digests/{day.isoformat()}" for day in sorted(public, reverse=True)]
    page.goto(f"{base}/subscribe")
    content = page.content()
    pages = ("edition", "digests", "briefing")
    for day in hidden:
        assert day.isoformat() not in content
        for kind in pages:
            assert page.request.get(f"{base}/{kind}/{day.isoformat()}").status == 404, kind
    for day in public:
        for kind in pages:
            assert page.request.get(f"{base}/{kind}/{day.isoformat()}").status == 200, kind
    page.close()
    with db.session_scope(settings) as session:
        assert session.query(Digest).count() == len(public) + len(hidden)


def test_axe_reports_what_it_should(browser: Any) -> None:
    """The check above can fail: a page with an unlabelled field and faint text is caught."""
    page = browser.new_page()
    page.set_content(
        '<html lang="en"><title>x</title><main><p style="color:#bbb;background:#fff">faint</p>'
        '<input type="text"></main></html>'
    )
    found = serious(page)
    assert any(v.startswith("color-contrast") for v in found), found
    assert any(v.startswith("label") for v in found), found
    page.close()
