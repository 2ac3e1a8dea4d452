"""The podcast feeds, parsed and checked field by field against Apple's required tags."""

from __future__ import annotations

import json
import re
import struct
import xml.etree.ElementTree as ET
from collections.abc import Callable
from email.utils import parsedate_to_datetime

from sqlalchemy.orm import Session

from worker.audio.podcast import podcast_guid, publish_podcasts
from worker.audio.synthesis import synthesize_article
from worker.models import Article
from worker.settings import Settings
from worker.storage import LocalStorage

NS = {
    "itunes": "http://www.itunes.com/dtds/podcast-1.0.dtd",
    "podcast": "https://podcastindex.org/namespace/1.0",
    "atom": "http://www.w3.org/2005/Atom",
}


def _channel(storage: LocalStorage, key: str) -> ET.Element:
    root = ET.fromstring(storage.read_bytes(key))
    assert root.tag == "rss" and root.get("version") == "2.0"
    channel = root.find("channel")
    assert channel is not None
    return channel


def _text(node: ET.Element, path: str) -> str:
    found = node.find(path, NS)
    assert found is not None, path
    return found.text or ""


def test_article_feed_has_apples_required_channel_and_item_tags(
    session: Session,
    settings: Settings,
    storage: LocalStorage,
    make_article: Callable[..., Article],
) -> None:
    first = make_article(title="First story")
    second = make_article(title="Друга історія", language="uk", body_html="<p>Київ, 15 км.</p>")
    make_article(title="Never spoken")  # no audio: not in the feed
    for article in (first, second):
        assert synthesize_article(session, settings, storage, article.id)["status"] == "synthesized"

    summary = publish_podcasts(session, settings, storage)
    assert summary["podcast"]["items"] == 2

    channel = _channel(storage, "podcast.xml")
    assert _text(channel, "title") == "Ukraine Daily"
    description = _text(channel, "description")
    assert description and len(description.encode()) <= 4000
    assert _text(channel, "language") == "en"
    assert _text(channel, "itunes:explicit") == "false"  # Apple: true/false, not yes/no
    category = channel.find("itunes:category", NS)
    assert category is not None and category.get("text") == "News"
    image = channel.find("itunes:image", NS)
    assert image is not None
    href = image.get("href", "")
    assert href == "https://daily.example.org/media/podcast-cover.png"
    cover = storage.read_bytes("podcast-cover.png")
    assert cover[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", cover[16:24])
    assert 1400 <= width <= 3000 and width == height
    assert _text(channel, "podcast:guid") == podcast_guid("https://daily.example.org/podcast.xml")
    assert re.fullmatch(r"[0-9a-f-]{36}", _text(channel, "podcast:guid"))
    self_link = channel.find("atom:link[@rel='self']", NS)
    assert (
        self_link is not None and self_link.get("href") == "https://daily.example.org/podcast.xml"
    )
    assert _text(channel, "itunes:owner/itunes:email") == "daily@example.org"

    items = channel.findall("item")
    assert [_text(i, "title") for i in items] == ["Друга історія", "First story"]  # newest first
    guids = set()
    for item, article in zip(items, (second, first), strict=True):
        enclosure = item.find("enclosure")
        assert enclosure is not None
        key = f"{article.storage_prefix}/audio.mp3"
        assert enclosure.get("url") == f"https://daily.example.org/media/{key}"
        assert enclosure.get("type") == "audio/mpeg"
        assert int(enclosure.get("length", "0")) == storage.size(key)  # the real byte length
        guid = item.find("guid")
        assert guid is not None and guid.get("isPermaLink") == "false" and guid.text
        guids.add(guid.text)
        published = parsedate_to_datetime(_text(item, "pubDate"))  # RFC 2822
        assert published == article.published_at
        meta = json.loads(storage.read_bytes(f"{article.storage_prefix}/audio.json"))
        assert int(_text(item, "itunes:duration")) == max(1, round(meta["duration_seconds"]))
        transcripts = {t.get("type"): t for t in item.findall("podcast:transcript", NS)}
        assert set(transcripts) == {"text/vtt", "text/plain"}
        vtt_url = transcripts["text/vtt"].get("url", "")
        assert vtt_url.endswith(f"{article.storage_prefix}/audio.vtt")
        assert transcripts["text/vtt"].get("language") == article.language
    assert len(guids) == 2

    # guids are stable across rebuilds
    publish_podcasts(session, settings, storage)
    again = _channel(storage, "podcast.xml").findall("item")
    assert {(g.text) for i in again if (g := i.find("guid")) is not None} == guids


def test_briefing_feed_is_valid_even_without_episodes(
    session: Session, settings: Settings, storage: LocalStorage
) -> None:
    summary = publish_podcasts(session, settings, storage)
    assert summary["briefing"]["items"] == 0
    channel = _channel(storage, "briefing.xml")
    assert "briefing" in _text(channel, "title")
    assert _text(channel, "itunes:explicit") == "false"
    assert _text(channel, "podcast:guid") != _text(_channel(storage, "podcast.xml"), "podcast:guid")


def test_each_newsletter_has_its_own_article_feed(
    session: Session,
    settings: Settings,
    storage: LocalStorage,
    make_article: Callable[..., Article],
) -> None:
    """The default newsletter keeps /podcast.xml with every article; the Ukrainian one gets
    feeds/ukrainian/podcast.xml with its own sources' (Ukrainian articles) only."""
    from tests.conftest import EXAMPLES
    from worker.models import Source, SourceKind

    several = settings.model_copy(update={"newsletters": EXAMPLES / "newsletters.toml"})
    english = make_article(title="English story")
    ukrainian = make_article(title="Українська історія", language="uk")
    source = Source(name="Українське джерело", url="file:///uk", kind=SourceKind.articles)
    source.language = "uk"
    session.add(source)
    session.flush()
    ukrainian.source_id = source.id
    session.flush()
    for article in (english, ukrainian):
        assert synthesize_article(session, several, storage, article.id)["status"] == "synthesized"

    summary = publish_podcasts(session, several, storage)
    assert summary["podcast"]["key"] == "podcast.xml" and summary["podcast"]["items"] == 2
    assert summary["feeds"]["ukrainian"] == {
        "key": "feeds/ukrainian/podcast.xml",
        "items": 1,
        "bytes": summary["feeds"]["ukrainian"]["bytes"],
    }
    channel = _channel(storage, "feeds/ukrainian/podcast.xml")
    assert _text(channel, "title") == "Україна щодня"
    assert _text(channel, "language") == "uk"
    assert [_text(item, "title") for item in channel.findall("item")] == ["Українська історія"]
    self_link = channel.find("atom:link[@rel='self']", NS)
    assert self_link is not None
    assert self_link.get("href") == "https://daily.example.org/feeds/ukrainian/podcast.xml"
