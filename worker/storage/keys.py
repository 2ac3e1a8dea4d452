"""Every key the project stores, in one place (the layout: DESIGN.md, "Files next to each
article"). Keys are built from our own values (a day, a slug the project made, a newsletter's
slug), never from a feed or a request.

    articles/YYYY/MM/DD/<slug>/article.json, audio.mp3|json|vtt|txt
    digests/<edition>/digest.html|txt, email.html|txt|json, email-noaudio.html|txt,
                      briefing.mp3|json|vtt|txt|chapters.json
    podcast.xml, briefing.xml, feeds/<slug>/podcast.xml|briefing.xml, podcast-cover.png
    cache/tts/<ab>/<sha256>.mp3

`<edition>` is the day (`2026-11-27`) for the default newsletter, `<slug>/<day>` for the others.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from worker.edition.lookup import DEFAULT_SLUG, edition_path

ARTICLES = "articles/"
DIGESTS = "digests/"
FEEDS = "feeds/"
COVER = "podcast-cover.png"
# the default newsletter's feeds sit at the top, as before newsletters existed
ROOT_FEEDS = ("podcast.xml", "briefing.xml")


@dataclass(frozen=True)
class AudioFiles:
    """The files of one spoken piece: an article's `audio.*` or an edition's `briefing.*`."""

    stem: str  # the keys without their extension: `.../audio` or `.../briefing`

    @property
    def mp3(self) -> str:
        return f"{self.stem}.mp3"

    @property
    def meta(self) -> str:
        """Written last: its presence says the set is complete."""
        return f"{self.stem}.json"

    @property
    def captions(self) -> str:
        return f"{self.stem}.vtt"

    @property
    def transcript(self) -> str:
        return f"{self.stem}.txt"

    @property
    def chapters(self) -> str:
        return f"{self.stem}.chapters.json"


@dataclass(frozen=True)
class ArticleFiles:
    # articles/YYYY/MM/DD/<slug>: `Article.storage_prefix`, made from the row's day and slug
    # (there, as this module imports the edition lookup, which imports the models)
    prefix: str

    @property
    def document(self) -> str:
        return f"{self.prefix}/article.json"

    @property
    def audio(self) -> AudioFiles:
        return AudioFiles(f"{self.prefix}/audio")


@dataclass(frozen=True)
class EditionFiles:
    prefix: str  # digests/<edition>

    @property
    def web_html(self) -> str:
        """The web copy ("view in browser"), with no subscriber token in it."""
        return f"{self.prefix}/digest.html"

    @property
    def web_text(self) -> str:
        return f"{self.prefix}/digest.txt"

    @property
    def email_html(self) -> str:
        """The compiled email with per-recipient placeholders."""
        return f"{self.prefix}/email.html"

    @property
    def email_text(self) -> str:
        return f"{self.prefix}/email.txt"

    @property
    def email_meta(self) -> str:
        return f"{self.prefix}/email.json"

    @property
    def no_audio_html(self) -> str:
        """The same edition without listen links and briefing bar."""
        return f"{self.prefix}/email-noaudio.html"

    @property
    def no_audio_text(self) -> str:
        return f"{self.prefix}/email-noaudio.txt"

    @property
    def briefing(self) -> AudioFiles:
        return AudioFiles(f"{self.prefix}/briefing")


def article(prefix: str) -> ArticleFiles:
    """The files under an article's prefix (`Article.storage_prefix`)."""
    return ArticleFiles(prefix)


def edition_prefix(newsletter: str, day: date) -> str:
    return f"{DIGESTS}{edition_path(newsletter, day)}"


def edition(newsletter: str, day: date) -> EditionFiles:
    return EditionFiles(edition_prefix(newsletter, day))


# an edition's folder as edition_prefix writes it: digests/<day>/ or digests/<slug>/<day>/
_EDITION_FOLDER = re.compile(
    rf"{DIGESTS}(?:(?P<slug>[a-z0-9][a-z0-9_-]{{0,63}})/)?(?P<day>\d{{4}}-\d{{2}}-\d{{2}})/"
)


def edition_of(key: str) -> tuple[str, date] | None:
    """The (newsletter, day) whose folder `key` is in, the inverse of `edition_prefix`; None
    when it is in none: outside digests/, a stray file there, a day that does not exist."""
    match = _EDITION_FOLDER.match(key)
    if match is None:
        return None
    try:
        day = date.fromisoformat(match["day"])
    except ValueError:  # 2026-02-30
        return None
    return match["slug"] or DEFAULT_SLUG, day


def podcast_feed(slug: str) -> str:
    """The article podcast of a newsletter."""
    return "podcast.xml" if slug == DEFAULT_SLUG else f"{FEEDS}{slug}/podcast.xml"


def briefing_feed(slug: str) -> str:
    """The briefing feed of a newsletter (served at /feeds/<slug>/briefing.xml)."""
    return "briefing.xml" if slug == DEFAULT_SLUG else f"{FEEDS}{slug}/briefing.xml"


def tts_chunk(digest: str) -> str:
    """A cached gTTS chunk by the SHA-256 of what was asked (fanned out over 256 folders)."""
    return f"cache/tts/{digest[:2]}/{digest}.mp3"
