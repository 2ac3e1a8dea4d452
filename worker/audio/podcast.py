"""The podcast feeds: `podcast.xml` (every article audio) and `briefing.xml` (daily briefings).

feedgen's podcast extension writes the iTunes tags; two gaps are closed here with a small feedgen
extension: Apple wants `itunes:explicit` as true/false (feedgen only writes yes/no/clean), and
Podcasting 2.0 adds `podcast:guid` (UUIDv5 of the feed URL) and `podcast:transcript` per item.
Enclosure lengths are the stored files' real sizes, so podcast apps never see a wrong length.

Descriptions are HTML to podcast apps: plain text is HTML-escaped before it goes in ("<blink>"
stays visible). A feed is rewritten only when something in it changed; otherwise its bytes,
its lastBuildDate and so its ETag stay, and a polling app downloads nothing new.
"""

from __future__ import annotations

import html
import json
import re
import uuid
from datetime import UTC, datetime, time
from typing import Any

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from feedgen.util import xml_elem
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from worker import newsletters
from worker.audio.cover import cover_png
from worker.audio.normalize import spoken_date
from worker.edition.lookup import DEFAULT_SLUG, edition_path
from worker.models import Article, Audio, AudioState, Digest
from worker.settings import Settings
from worker.storage import Storage, keys

ITUNES_NS = "http://www.itunes.com/dtds/podcast-1.0.dtd"
PODCAST_NS = "https://podcastindex.org/namespace/1.0"
# the Podcasting 2.0 namespace for podcast:guid (UUIDv5 of the feed URL without scheme)
PODCAST_GUID_NS = uuid.UUID("ead4c236-bf58-58c6-a2c6-a6b28d128cb6")


def podcast_guid(feed_url: str) -> str:
    bare = feed_url.split("://", 1)[-1].rstrip("/")
    return str(uuid.uuid5(PODCAST_GUID_NS, bare))


def media_url(settings: Settings, key: str) -> str:
    return f"{settings.public_base_url.rstrip('/')}/media/{key}"


class _Podcast20(BaseExtension):  # type: ignore[misc]
    def __init__(self) -> None:
        self.guid: str | None = None
        self.explicit = False

    def extend_ns(self) -> dict[str, str]:
        return {"podcast": PODCAST_NS}

    def extend_rss(self, feed: Any) -> Any:
        channel = feed[0]
        explicit = channel.find(f"{{{ITUNES_NS}}}explicit")
        if explicit is None:
            explicit = xml_elem(f"{{{ITUNES_NS}}}explicit", channel)
        explicit.text = "true" if self.explicit else "false"
        if self.guid:
            xml_elem(f"{{{PODCAST_NS}}}guid", channel).text = self.guid
        return feed


class _Podcast20Entry(BaseEntryExtension):  # type: ignore[misc]
    def __init__(self) -> None:
        self.transcripts: list[tuple[str, str, str | None]] = []
        self.chapters: str | None = None  # URL of a Podcasting 2.0 JSON chapters file

    def extend_rss(self, entry: Any) -> Any:
        if self.chapters:
            node = xml_elem(f"{{{PODCAST_NS}}}chapters", entry)
            node.attrib["url"] = self.chapters
            node.attrib["type"] = "application/json+chapters"
        for url, mime, language in self.transcripts:
            node = xml_elem(f"{{{PODCAST_NS}}}transcript", entry)
            node.attrib["url"] = url
            node.attrib["type"] = mime
            if language:
                node.attrib["language"] = language
            if mime == "text/vtt":
                node.attrib["rel"] = "captions"
        return entry


def _channel(settings: Settings, storage: Storage, name: str, title: str) -> FeedGenerator:
    base = settings.public_base_url.rstrip("/")
    feed_url = f"{base}/{name}"
    fg = FeedGenerator()
    fg.load_extension("podcast")
    fg.register_extension("podcast20", _Podcast20, _Podcast20Entry)
    fg.title(title)
    fg.link(href=feed_url, rel="self")
    fg.link(href=base, rel="alternate")  # last: feedgen's RSS <link> is the latest alternate
    description = _clip_bytes(settings.podcast_description, 4000)  # Apple's limit is in bytes
    fg.description(_as_html(description, 4000))
    fg.language("en")
    fg.generator("digestcast")
    author = settings.podcast_author or settings.newsletter_name
    fg.podcast.itunes_author(author)
    fg.podcast.itunes_summary(description)
    fg.podcast.itunes_category(settings.podcast_category, "Daily News")
    fg.podcast.itunes_explicit("no")  # rewritten to true/false by _Podcast20
    fg.podcast.itunes_type("episodic")
    email = settings.podcast_email or _address(settings.from_address)
    fg.podcast.itunes_owner(name=author, email=email)
    if not storage.exists(keys.COVER) or storage.read_bytes(keys.COVER) != cover_png():
        storage.write_bytes(keys.COVER, cover_png())
    cover = media_url(settings, keys.COVER)
    fg.podcast.itunes_image(cover)
    fg.image(url=cover, title=title, link=base)
    fg.podcast20.guid = podcast_guid(feed_url)
    fg.podcast20.explicit = settings.podcast_explicit
    fg.lastBuildDate(datetime.now(UTC))
    return fg


def _as_html(text: str, limit: int | None = None) -> str:
    """Plain text for an element that podcast apps read as HTML: escaped, in a paragraph (so
    every reader, feedparser and gPodder's podcastparser alike, takes it for HTML), within
    `limit` bytes."""
    while True:
        value = f"<p>{html.escape(text, quote=False)}</p>"
        over = len(value.encode()) - limit if limit is not None else 0
        if over <= 0:
            return value
        text = _clip_bytes(text, len(text.encode()) - over)


def _clip_bytes(text: str, limit: int) -> str:
    return text.encode()[:limit].decode("utf-8", errors="ignore")


def _address(from_address: str) -> str:
    from email.utils import parseaddr

    return parseaddr(from_address)[1] or from_address


def _add_episode(
    fg: FeedGenerator,
    settings: Settings,
    storage: Storage,
    *,
    guid: str,
    title: str,
    description: str,
    link: str | None,
    published: datetime,
    audio_key: str,
    length: int,
    duration: float,
    language: str,
    transcript_prefix: str,
) -> None:
    entry = fg.add_entry(order="append")
    entry.guid(guid, permalink=False)
    entry.title(title)
    entry.description(_as_html(description or title))
    if link:
        entry.link(href=link)
    entry.pubDate(published)  # feedgen writes RFC 2822
    entry.enclosure(media_url(settings, audio_key), str(length), "audio/mpeg")
    entry.podcast.itunes_duration(max(1, round(duration)))
    # the transcripts are written with the MP3, before the .json that marks the set complete
    for ext, mime in (("vtt", "text/vtt"), ("txt", "text/plain")):
        url = media_url(settings, f"{transcript_prefix}.{ext}")
        entry.podcast20.transcripts.append((url, mime, language))


_BUILD_DATE = re.compile(rb"<lastBuildDate>[^<]*</lastBuildDate>")


def _write(storage: Storage, key: str, fg: FeedGenerator) -> int:
    """Write the feed unless only its lastBuildDate would change; the stored size."""
    data: bytes = fg.rss_str(pretty=True)
    if storage.exists(key):
        current = storage.read_bytes(key)
        if _BUILD_DATE.sub(b"", current) == _BUILD_DATE.sub(b"", data):
            return len(current)
    storage.write_bytes(key, data)
    return len(data)


def publish_article_feed(session: Session, settings: Settings, storage: Storage) -> dict[str, Any]:
    """The article feed of the newsletter `settings` address (newsletters.scoped)."""
    from worker.digest.select import fed_by

    newsletter = newsletters.current(settings)
    feed_key = keys.podcast_feed(newsletter.slug)
    title = settings.podcast_title or settings.newsletter_name
    if newsletter.slug != DEFAULT_SLUG:  # PODCAST_TITLE names the default feed only
        title = newsletter.name
    fg = _channel(settings, storage, feed_key, title)
    if newsletter.slug != DEFAULT_SLUG and newsletter.language:
        fg.language(newsletter.language)
    rows = session.scalars(
        select(Article)
        .join(Audio, Audio.article_id == Article.id)
        .where(Audio.state.in_([AudioState.done, AudioState.fallback]))
        .where(fed_by(None if newsletter.slug == DEFAULT_SLUG else newsletter))
        .options(joinedload(Article.audio))
        .order_by(Article.published_at.desc(), Article.id.desc())
        .limit(settings.podcast_max_items)
    ).unique()
    items = 0
    for article in rows:
        files = keys.article(article.storage_prefix).audio
        key = files.mp3
        try:
            length = storage.size(key)  # the real byte length, one cheap call per item (S3: HEAD)
        except FileNotFoundError:
            continue
        audio = article.audio
        _add_episode(
            fg,
            settings,
            storage,
            guid=f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, 'digestcast:audio:' + article.guid)}",
            title=article.title,
            description=article.summary,
            link=article.url,
            published=article.published_at,
            audio_key=key,
            length=length,
            duration=float(audio.duration_seconds or 0) if audio else 0.0,
            language=article.language,
            transcript_prefix=files.stem,
        )
        items += 1
    size = _write(storage, feed_key, fg)
    return {"key": feed_key, "items": items, "bytes": size}


def publish_briefing_feed(session: Session, settings: Settings, storage: Storage) -> dict[str, Any]:
    slug = newsletters.current(settings).slug
    feed_key = keys.briefing_feed(slug)
    title = f"{settings.newsletter_name}: the daily briefing"
    fg = _channel(settings, storage, feed_key, title)
    items = 0
    digests = session.scalars(
        select(Digest)
        .where(Digest.newsletter == slug)
        .order_by(Digest.date.desc())
        .limit(settings.podcast_max_items)
    )
    for digest in digests:
        path = edition_path(slug, digest.date)
        briefing = keys.edition(slug, digest.date).briefing
        key = briefing.mp3
        if not storage.exists(key) or not storage.exists(briefing.meta):
            continue
        meta = json.loads(storage.read_bytes(briefing.meta))
        when = datetime.combine(digest.date, time(settings.send_time.hour), settings.tz)
        _add_episode(
            fg,
            settings,
            storage,
            guid=f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'digestcast:briefing:{path}')}",
            title=f"{settings.newsletter_name}, {spoken_date(digest.date, 'en')}",
            description="; ".join(c["title"] for c in meta.get("chapters", [])[1:-1]),
            link=f"{settings.public_base_url.rstrip('/')}/briefing/{path}",
            published=when,
            audio_key=key,
            length=storage.size(key),
            duration=float(meta.get("duration_seconds") or 0),
            language="en",
            transcript_prefix=briefing.stem,
        )
        chapters = briefing.chapters
        if storage.exists(chapters):  # the episode just added (feedgen appends)
            fg.entry()[-1].podcast20.chapters = media_url(settings, chapters)
        items += 1
    size = _write(storage, feed_key, fg)
    return {"key": feed_key, "items": items, "bytes": size}


def publish_podcasts(session: Session, settings: Settings, storage: Storage) -> dict[str, Any]:
    """Write both feeds of the newsletter `settings` address, and every other newsletter's
    article feed when they are not scoped (the worker's task); returns {"podcast": {...},
    "briefing": {...}, "feeds": {slug: {...}}}."""
    done = {
        "podcast": publish_article_feed(session, settings, storage),
        "briefing": publish_briefing_feed(session, settings, storage),
    }
    if not settings.newsletter_slug:
        current = newsletters.current(settings).slug
        done["feeds"] = {
            n.slug: publish_article_feed(session, newsletters.scoped(settings, n), storage)
            for n in newsletters.all_newsletters(settings)
            if n.slug != current
        }
    return done
