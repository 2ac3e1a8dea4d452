"""The podcast feeds as apps read them: plain text stays visible ("<blink>"), and a feed whose
items did not change keeps its bytes, its lastBuildDate and its ETag."""

from __future__ import annotations

import html
import io
import re
import time
from collections.abc import Callable

import feedparser
import podcastparser
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from web.app import create_app
from worker.audio.podcast import publish_podcasts
from worker.audio.synthesis import synthesize_article
from worker.models import Article
from worker.settings import Settings
from worker.storage import LocalStorage

BLINK = "History of the <blink> tag & why it blinked"
FEEDS = ("podcast.xml", "briefing.xml")


def visible(markup: str) -> str:
    """What a reader of HTML sees: the text without its tags, entities decoded."""
    return html.unescape(re.sub(r"<[^>]*>", "", markup))


def test_plain_text_descriptions_survive_feedparser_and_podcastparser(
    session: Session,
    settings: Settings,
    storage: LocalStorage,
    make_article: Callable[..., Article],
) -> None:
    article = make_article(title=BLINK, summary=BLINK)
    assert synthesize_article(session, settings, storage, article.id)["status"] == "synthesized"
    publish_podcasts(session, settings, storage)
    data = storage.read_bytes("podcast.xml")

    (entry,) = feedparser.parse(io.BytesIO(data)).entries
    assert entry.title == BLINK
    assert visible(entry.summary) == BLINK  # HTML whose visible text is the text
    (episode,) = podcastparser.parse("https://daily.example.org/podcast.xml", io.BytesIO(data))[
        "episodes"
    ]
    assert episode["title"] == BLINK and episode["description"] == BLINK
    channel = feedparser.parse(io.BytesIO(data)).feed
    assert visible(channel.subtitle) == settings.podcast_description


def _etag(client: TestClient, key: str) -> str:
    response = client.get(f"/{key}")
    assert response.status_code == 200
    return response.headers["etag"]


def _build_date(data: bytes) -> bytes:
    found = re.search(rb"<lastBuildDate>([^<]*)</lastBuildDate>", data)
    assert found is not None
    return found.group(1)


def test_an_unchanged_rerun_leaves_both_feeds_byte_identical(
    session: Session,
    settings: Settings,
    storage: LocalStorage,
    make_article: Callable[..., Article],
) -> None:
    first = make_article(title="First story")
    assert synthesize_article(session, settings, storage, first.id)["status"] == "synthesized"
    publish_podcasts(session, settings, storage)
    before = {key: storage.read_bytes(key) for key in FEEDS}
    with TestClient(create_app(settings), base_url="https://daily.example.org") as client:
        etags = {key: _etag(client, key) for key in FEEDS}
        time.sleep(1.1)  # a rebuilt feed would carry a later lastBuildDate (to the second)
        publish_podcasts(session, settings, storage)
        assert {key: storage.read_bytes(key) for key in FEEDS} == before
        assert {key: _etag(client, key) for key in FEEDS} == etags
        revalidated = client.get("/podcast.xml", headers={"If-None-Match": etags["podcast.xml"]})
        assert revalidated.status_code == 304

        # a new episode changes the article feed (and its date), not the briefing feed
        second = make_article(title="Second story")
        assert synthesize_article(session, settings, storage, second.id)["status"] == "synthesized"
        publish_podcasts(session, settings, storage)
        after = storage.read_bytes("podcast.xml")
        assert b"Second story" in after
        assert _build_date(after) != _build_date(before["podcast.xml"])
        assert _etag(client, "podcast.xml") != etags["podcast.xml"]
        assert storage.read_bytes("briefing.xml") == before["briefing.xml"]
        assert _etag(client, "briefing.xml") == etags["briefing.xml"]
