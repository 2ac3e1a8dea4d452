"""Every stored key in one place: the layout DESIGN.md promises, for both kinds of newsletter."""

from __future__ import annotations

from datetime import date

from worker.storage import keys

DAY = date(2026, 11, 27)


def test_article_files() -> None:
    files = keys.article("articles/2026/11/27/kyiv-today")
    assert files.document == "articles/2026/11/27/kyiv-today/article.json"
    assert files.audio.mp3 == "articles/2026/11/27/kyiv-today/audio.mp3"
    assert files.audio.meta == "articles/2026/11/27/kyiv-today/audio.json"
    assert files.audio.captions == "articles/2026/11/27/kyiv-today/audio.vtt"
    assert files.audio.transcript == "articles/2026/11/27/kyiv-today/audio.txt"


def test_default_edition_sits_under_its_day() -> None:
    files = keys.edition("daily", DAY)
    assert files.prefix == "digests/2026-11-27"
    assert (files.web_html, files.web_text) == (
        "digests/2026-11-27/digest.html",
        "digests/2026-11-27/digest.txt",
    )
    assert (files.email_html, files.email_text, files.email_meta) == (
        "digests/2026-11-27/email.html",
        "digests/2026-11-27/email.txt",
        "digests/2026-11-27/email.json",
    )
    assert (files.no_audio_html, files.no_audio_text) == (
        "digests/2026-11-27/email-noaudio.html",
        "digests/2026-11-27/email-noaudio.txt",
    )
    briefing = files.briefing
    assert briefing.stem == "digests/2026-11-27/briefing"
    assert briefing.mp3 == "digests/2026-11-27/briefing.mp3"
    assert briefing.meta == "digests/2026-11-27/briefing.json"
    assert briefing.captions == "digests/2026-11-27/briefing.vtt"
    assert briefing.transcript == "digests/2026-11-27/briefing.txt"
    assert briefing.chapters == "digests/2026-11-27/briefing.chapters.json"


def test_other_newsletters_have_their_own_folders() -> None:
    assert keys.edition_prefix("weekly", DAY) == "digests/weekly/2026-11-27"
    assert keys.edition("weekly", DAY).briefing.mp3 == "digests/weekly/2026-11-27/briefing.mp3"


def test_feeds() -> None:
    assert keys.podcast_feed("daily") == "podcast.xml"
    assert keys.briefing_feed("daily") == "briefing.xml"
    assert keys.podcast_feed("weekly") == "feeds/weekly/podcast.xml"
    assert keys.briefing_feed("weekly") == "feeds/weekly/briefing.xml"
    assert set(keys.ROOT_FEEDS) == {"podcast.xml", "briefing.xml"}


def test_tts_cache_fans_out_by_the_first_two_hex_digits() -> None:
    assert keys.tts_chunk("ab" + "0" * 62) == f"cache/tts/ab/ab{'0' * 62}.mp3"


def test_edition_of_reads_back_the_edition_a_key_is_in() -> None:
    assert keys.edition_of(keys.edition("daily", DAY).briefing.mp3) == ("daily", DAY)
    assert keys.edition_of(keys.edition("weekly", DAY).email_html) == ("weekly", DAY)
    for key in (
        "articles/2026/11/27/kyiv-today/audio.mp3",  # not under digests/
        "digests/stray.txt",  # under digests/ but in no edition's folder
        "digests/2026-11-27",  # the folder itself, not a file in it
        "digests/2026-02-30/briefing.mp3",  # no such day
        "digests/Weekly/2026-11-27/briefing.mp3",  # edition_prefix never writes such a slug
    ):
        assert keys.edition_of(key) is None, key
