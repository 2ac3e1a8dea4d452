"""Structure of the HTML email: sections, links, escaping, accessibility, size budget, text part."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from tests.digest.conftest import DAY, Factory, fixed_briefing, kyiv, sample_day
from tests.digest.helpers import is_absolute_http, parse_html
from worker.digest.build import build_digest
from worker.digest.content import PLACEHOLDERS
from worker.settings import Settings
from worker.storage import LocalStorage

PREFIX = "digests/2026-11-27"


@pytest.fixture
def built(
    session: Session,
    settings: Settings,
    storage: LocalStorage,
    factory: Factory,
) -> dict[str, object]:
    data = sample_day(factory)
    digest = build_digest(session, settings, storage, DAY, briefing=fixed_briefing)
    return {
        "digest": digest,
        "data": data,
        "email": storage.read_bytes(f"{PREFIX}/email.html").decode(),
        "web": storage.read_bytes(f"{PREFIX}/digest.html").decode(),
        "text": storage.read_bytes(f"{PREFIX}/digest.txt").decode(),
        "email_text": storage.read_bytes(f"{PREFIX}/email.txt").decode(),
    }


def test_every_section_and_the_design_elements(built: dict[str, object]) -> None:
    html = str(built["email"])
    for needle in (
        "Ukraine Daily",
        "Friday, 27 November 2026",
        "Listen to today's briefing, 6 min",  # the briefing bar with its duration
        "TOP STORIES",
        "NEWS FEED",
        "EDITORS' PICKS",  # a catalogue label: trusted markup, not escaped
        "Become a member",
        "https://example.org/support",
        "Unsubscribe",
        "View in browser",
        "https://daily.example.org/digests/2026-11-27",
        "1 Example Street",
        "You are receiving this email because you subscribed",
        "min read",
        "Listen, 5 min",
        'name="color-scheme"',
        "prefers-color-scheme: dark",
        "Helvetica, Arial, sans-serif",
        "Georgia, 'Times New Roman', Times, serif",
    ):
        assert needle in html, needle
    parsed = parse_html(html)
    assert parsed.lang == "en"
    # the preheader is the first text of the body, made from the lead story, hidden by display
    # and size (not white on light: SpamAssassin's HTML_FONT_LOW_CONTRAST) and padded so the
    # inbox snippet does not run on into "View in browser"
    body = html.split("<body", 1)[1]
    hidden = re.search(
        r'<div class="dc-preheader" aria-hidden="true" style="([^"]*)">([^<]*)</div>', body
    )
    assert hidden is not None and "color" not in hidden.group(1)
    assert "display:none" in hidden.group(1) and "max-height:0" in hidden.group(1)
    assert hidden.group(2).startswith("Inside the night shift in Kharkiv")
    assert hidden.group(2).count("&zwnj;") >= 60
    assert body.index("dc-preheader") < body.index("View in browser")
    # the Ukrainian story is marked as such
    assert '<span lang="uk">' in html
    # no web fonts: nothing is fetched from a font service
    assert "fonts.googleapis.com" not in html


def test_every_article_and_news_headline_is_named(built: dict[str, object]) -> None:
    html = str(built["email"])
    data = built["data"]
    assert isinstance(data, dict)
    text = " ".join(parse_html(html).text)
    for row in [*data["stories"], *data["picks"], *data["items"]]:
        title = re.sub(r"\s+", " ", row.title.replace("\r\n", " ")).strip()
        assert title in text, title
    for row in data["outside"]:
        assert row.title not in text


def test_links_are_absolute_and_images_have_alt(built: dict[str, object]) -> None:
    for key in ("email", "web"):
        parsed = parse_html(str(built[key]))
        assert parsed.hrefs and parsed.imgs
        for href in parsed.hrefs:
            if href in PLACEHOLDERS:
                continue
            assert is_absolute_http(href), href
        for img in parsed.imgs:
            assert img.get("alt"), img
            assert is_absolute_http(img.get("src") or ""), img
    email = parse_html(str(built["email"]))
    listen = [h for h in email.hrefs if "/listen/" in h]
    assert len(listen) == 5 + 2  # five stories and both picks have audio
    assert all(re.fullmatch(r"https://daily\.example\.org/listen/\d+", h) for h in listen)
    assert "https://daily.example.org/briefing/2026-11-27" in email.hrefs


def test_no_unrendered_template_and_hostile_text_is_escaped(built: dict[str, object]) -> None:
    for key in ("email", "web", "text"):
        body = str(built[key])
        for marker in ("{{", "}}", "{%", "%}", "{#"):
            assert marker not in body, (key, marker)
    html = str(built["email"])
    parsed = parse_html(html)
    assert parsed.scripts == 0 and not parsed.event_handlers
    assert "javascript:" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt; plain &amp; simple" in html
    assert "Hostile &lt;script&gt;" in html
    # feed text is text: markup in it is shown escaped, never interpreted
    assert "Dek with &lt;b&gt;markup&lt;/b&gt; &amp;amp; an injected line" in html


def test_web_copy_has_no_placeholder_and_no_token(built: dict[str, object]) -> None:
    for key in ("web", "text"):
        body = str(built[key])
        assert "@@" not in body
        assert "/u/" not in body and "/preferences/" not in body
        assert "https://daily.example.org/subscribe" in body
    for placeholder in PLACEHOLDERS:
        assert placeholder in str(built["email"])
        assert placeholder in str(built["email_text"])


def test_text_part_is_complete_and_readable(built: dict[str, object]) -> None:
    text = str(built["email_text"])
    data = built["data"]
    assert isinstance(data, dict)
    flat = re.sub(r"\s+", " ", text)
    for row in [*data["stories"], *data["picks"], *data["items"]]:
        title = re.sub(r"\s+", " ", row.title.replace("\r\n", " ")).strip()
        assert title in flat, title
    # every link of the HTML is written out in the text part
    html_links = {h for h in parse_html(str(built["email"])).hrefs if h not in PLACEHOLDERS}
    for link in html_links:
        assert link in text, link
    assert "06:20  Hostile <script>" in text  # Kyiv time, plain text (no HTML escaping here)
    assert "\r" not in text
    for line in text.splitlines():
        # wrapped at 72 columns; only a line holding a URL may be longer
        assert len(line) <= 72 or "://" in line or "@@" in line, line
    assert "Bcc: victim@example.com" in text  # part of a title line, never a header line
    assert not any(line.startswith("Bcc:") for line in text.splitlines())


def test_heavy_day_stays_under_budget_and_records_degradations(
    session: Session,
    settings: Settings,
    storage: LocalStorage,
    factory: Factory,
) -> None:
    prev = DAY - timedelta(days=1)
    long_dek = "A long dek that goes on and on about the day's events in great detail. " * 5
    for n in range(25):
        factory.article(f"Heavy day story number {n}", kyiv(prev, 8) + timedelta(minutes=30 * n),
                        summary=long_dek)  # fmt: skip
    brief = "A paragraph of news in brief that says what happened. " * 4
    for n in range(40):
        factory.item(f"Heavy day news item {n}", kyiv(prev, 8) + timedelta(minutes=20 * n),
                     summary=brief)  # fmt: skip
    for n in range(3):
        factory.article(f"Heavy pick {n}", kyiv(prev, 9 + n), pick=True, summary=long_dek)
    digest = build_digest(session, settings, storage, DAY, briefing=fixed_briefing)
    html = storage.read_bytes(f"{PREFIX}/email.html")
    assert len(html) <= 90_000 == settings.digest_html_budget_bytes
    assert digest.html_bytes == len(html)
    assert digest.degradations, "a 25-story, 40-item day must have been degraded"
    assert digest.degradations[0] == "thumbnails dropped below the third top story"
    assert not any("still over" in d for d in digest.degradations)
    # every story is still in the HTML; the feed is capped with a link to the site
    page = html.decode()
    for n in range(25):
        assert f"Heavy day story number {n}<" in page
    if any("news feed capped" in d for d in digest.degradations):
        assert "more on the site" in page
    # the text part is never degraded
    text = storage.read_bytes(f"{PREFIX}/email.txt").decode()
    for n in range(40):
        assert f"Heavy day news item {n}" in text
    assert text.count("A long dek that goes on") >= 28


def test_content_cannot_smuggle_a_placeholder(
    session: Session,
    settings: Settings,
    storage: LocalStorage,
    factory: Factory,
) -> None:
    from worker.digest.build import build_digest as build

    factory.article("Title @@DC_GREETING@@", kyiv(DAY, 6), summary="@@DC_UNSUBSCRIBE_URL@@",
                    url="https://evil.example/?t=@@DC_UNSUBSCRIBE_URL@@")  # fmt: skip
    factory.item("Item", kyiv(DAY, 5), url="https://evil.example/@@DC_PREFERENCES_URL@@")
    build(session, settings, storage, DAY)
    for name in ("email.html", "email.txt"):
        body = storage.read_bytes(f"{PREFIX}/{name}").decode()
        for placeholder in PLACEHOLDERS:
            assert body.count(placeholder) == 1, (name, placeholder)
    assert "https://evil.example/?t=@%40DC_UNSUBSCRIBE_URL@%40" in body


def test_a_115_story_day_fits_and_sends_the_rest_to_the_site(
    session: Session,
    settings: Settings,
    storage: LocalStorage,
    factory: Factory,
) -> None:
    """Past every trimming step the email keeps the lead, the first top stories and the news
    feed, and links "N more stories on the site" to the web copy, which has every story."""
    prev = DAY - timedelta(days=1)
    dek = "What happened, who said what and why it matters for the people of the city today. " * 3
    for n in range(112):
        factory.article(f"Story {n:03d}: a headline of an ordinary newsroom length, and a bit",
                        kyiv(prev, 8) + timedelta(minutes=5 * n), summary=dek)  # fmt: skip
    for n in range(3):
        factory.article(f"Pick {n}: an editors' pick", kyiv(prev, 9, n), pick=True, summary=dek)
    brief = "A paragraph of news in brief that says what happened. " * 3
    for n in range(40):
        factory.item(f"News item {n:02d}", kyiv(prev, 8) + timedelta(minutes=20 * n), summary=brief)
    digest = build_digest(session, settings, storage, DAY, briefing=fixed_briefing)
    email = storage.read_bytes(f"{PREFIX}/email.html").decode()
    assert len(email.encode()) <= 90_000 == settings.digest_html_budget_bytes
    assert not any("still over" in d for d in digest.degradations), digest.degradations
    cut = next(d for d in digest.degradations if d.startswith("top stories cut to"))
    kept = int(re.search(r"cut to (\d+)", cut).group(1))  # type: ignore[union-attr]
    more = 115 - 1 - kept  # the picks went first, then the top stories past the first `kept`
    links = parse_html(email)
    assert f"{more} more stories on the site" in " ".join(links.text)
    assert "https://daily.example.org/digests/2026-11-27" in links.hrefs
    # the lead and the first N top stories, in the edition's order; none of the others
    sent = [s["title"] for s in json.loads(storage.read_bytes(f"{PREFIX}/email.json"))["stories"]]
    assert len(sent) == kept + 1
    everything = [f"Story {n:03d}" for n in range(112)]
    assert {t.split(":")[0] for t in sent} == {t for t in everything if f"{t}:" in email}
    assert "Pick 0" not in email
    assert "News item" in email  # the news feed stays
    # the archive page (the web copy) and the text part have every story
    web = storage.read_bytes(f"{PREFIX}/digest.html").decode()
    text = storage.read_bytes(f"{PREFIX}/email.txt").decode()
    for n in range(112):
        assert f"Story {n:03d}" in web and f"Story {n:03d}" in text
    assert "Pick 2" in web and "more stories on the site" not in web
    # the edition without audio links is trimmed the same way
    no_audio = storage.read_bytes(f"{PREFIX}/email-noaudio.html")
    assert len(no_audio) <= 90_000


@pytest.mark.parametrize("budget", [30_000, 60_000, 90_000, 150_000])
def test_trimming_always_converges(settings: Settings, budget: int) -> None:
    from datetime import date as date_

    from worker.digest.content import Story, build_view
    from worker.digest.render import PERSONALIZATION_ALLOWANCE, render

    view = build_view(settings, date_(2026, 11, 27), [], [], [], 300.0)
    story = Story(id=1, title="A headline " * 6, url="https://example.org/s", dek="Dek. " * 60,
                  byline="A. Writer", category="News", reading_minutes=4,
                  image_url="https://example.org/i.jpg", image_alt="alt",
                  listen_url="https://daily.example.org/listen/1", listen_minutes=3,
                  published_local="08:00")  # fmt: skip
    view = view.with_(stories=(story,) * 150, picks=(story,) * 10)
    rendered = render(view, budget)
    assert not rendered.over_budget, rendered.degradations
    assert rendered.html_bytes <= budget - PERSONALIZATION_ALLOWANCE
    assert rendered.view.lead == story
    assert len(rendered.full_html) > len(rendered.html) or budget >= 150_000
