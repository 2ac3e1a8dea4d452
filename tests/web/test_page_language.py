"""web/page_language.py: which language a page speaks and the environment that speaks it."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from starlette.requests import Request

from web.page_language import (
    DEFAULT,
    gettext,
    local_time,
    make_environment,
    newsletter_language,
    newsletter_page,
    reader_language,
    supported,
)
from worker import newsletters
from worker.settings import Settings


def request_with(accept_language: str) -> Request:
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/",
        "headers": [(b"accept-language", accept_language.encode())],
    }
    return Request(scope)


def other_language() -> str:
    others = sorted(lang for lang in newsletters.LANGUAGES if lang != DEFAULT)
    # the product ships Ukrainian beside English: a missing catalogue must fail, not skip
    assert others, "only the default language has a catalogue"
    return others[0]


def test_supported_falls_back_to_default() -> None:
    assert supported(None) == DEFAULT
    assert supported("xx-nonexistent") == DEFAULT
    for lang in newsletters.LANGUAGES:
        assert supported(lang) == lang


def test_reader_language_follows_quality_order() -> None:
    other = other_language()
    assert reader_language(request_with(f"{other};q=0.9,en;q=0.8")) == other
    assert reader_language(request_with(f"en;q=0.9,{other};q=0.8")) == "en"
    assert reader_language(request_with(f"{other}-XX,{other};q=0.9")) == other


def test_reader_language_unknown_or_broken_headers_give_default() -> None:
    assert reader_language(request_with("")) == DEFAULT
    assert reader_language(request_with("zz,qq;q=0.5")) == DEFAULT
    assert reader_language(request_with("de;q=abc")) == DEFAULT
    assert reader_language(request_with("," * 5000)) == DEFAULT


def test_local_time_treats_naive_as_utc() -> None:
    zone = ZoneInfo("Europe/Kyiv")
    naive = datetime(2026, 11, 27, 10, 0)
    assert local_time(naive, zone, "%H:%M") == "12:00"
    assert local_time(naive.replace(tzinfo=UTC), zone, "%H:%M") == "12:00"
    assert local_time(None, zone) == ""


def test_environment_has_the_page_filters() -> None:
    env = make_environment()
    assert env.globals["page_language"] == DEFAULT
    rendered = env.from_string("{{ d | short_day }}|{{ '<b>' | t }}").render(d=date(2026, 11, 27))
    assert rendered == "27 November 2026|&lt;b&gt;"


def test_environment_in_another_language_names_months_in_it() -> None:
    other = other_language()
    env = make_environment(other)
    assert env.globals["page_language"] == other
    rendered = env.from_string("{{ d | short_day }}").render(d=date(2026, 11, 27))
    assert "November" not in rendered
    assert "2026" in rendered


def test_newsletter_language_and_page_for_unknown_slug_are_the_default(settings: Settings) -> None:
    default_page = newsletter_page(settings, "no-such-newsletter")
    assert default_page["archive_slug"] is None
    assert default_page["briefing_feed"] == "/briefing.xml"
    assert default_page["podcast_feed"] == "/podcast.xml"
    assert default_page["lang"] == newsletter_language(settings, "no-such-newsletter")


def test_gettext_passes_unknown_messages_through() -> None:
    assert gettext(DEFAULT, "A message no catalogue has") == "A message no catalogue has"
