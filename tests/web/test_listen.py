"""web/listen.py: the article player page, the whole-edition page and their helpers."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.web.conftest import add_article_with_audio, add_digest
from web.listen import DESCRIPTION_CHARS, describe, paragraph_times
from worker import db
from worker.models import Article, Audio, Digest, DigestState
from worker.settings import Settings
from worker.storage import LocalStorage

PREFIX = "articles/2026/11/27/x"


# ---------------------------------------------------------------- describe
def test_describe_short_text_is_kept_with_whitespace_collapsed() -> None:
    assert describe("  Power  is\n back\tin Kyiv. ") == "Power is back in Kyiv."
    assert describe("") == ""


def test_describe_cuts_long_text_at_a_word() -> None:
    text = "word " * 100
    found = describe(text)
    assert len(found) <= DESCRIPTION_CHARS and found.endswith("word…")
    exact = "x" * DESCRIPTION_CHARS
    assert describe(exact) == exact  # at the limit: whole


# ---------------------------------------------------------------- paragraph_times
def times_file(storage: LocalStorage, value: object) -> None:
    storage.write_bytes(f"{PREFIX}/audio.json", json.dumps(value).encode())


def test_paragraph_times_as_floats(storage: LocalStorage) -> None:
    times_file(storage, {"paragraph_times": [[0, 1.5], [1.5, 4]], "other": 1})
    assert paragraph_times(storage, PREFIX, 2) == [[0.0, 1.5], [1.5, 4.0]]


def test_no_file_no_times(storage: LocalStorage) -> None:
    assert paragraph_times(storage, PREFIX, 2) is None


@pytest.mark.parametrize(
    "value",
    [
        {"paragraph_times": [[0, 1]]},  # one span for two paragraphs: an older file
        {"paragraph_times": [[0, 1], [1, 2], [2, 3]]},
        {"paragraph_times": [[0, 1], [1]]},
        {"paragraph_times": [[0, 1], [-1, 2]]},
        {"paragraph_times": [[0, 1], ["1", "2"]]},
        {"paragraph_times": [[0, 1], None]},
        {"paragraph_times": "0-1,1-2"},
        {"duration_seconds": 3},
        [[0, 1], [1, 2]],  # not an object
    ],
)
def test_times_that_do_not_fit_are_none(storage: LocalStorage, value: object) -> None:
    times_file(storage, value)
    assert paragraph_times(storage, PREFIX, 2) is None


def test_a_broken_file_is_no_times(storage: LocalStorage) -> None:
    storage.write_bytes(f"{PREFIX}/audio.json", b"{not json")
    assert paragraph_times(storage, PREFIX, 2) is None


# ---------------------------------------------------------------- /listen/{id}
def test_spoken_paragraphs_carry_their_times(
    client: TestClient, web_settings: Settings, storage: LocalStorage, mp3_bytes: bytes
) -> None:
    with db.session_scope(web_settings) as session:
        article = add_article_with_audio(session, storage, mp3_bytes)
        aid, prefix = article.id, article.storage_prefix
    storage.write_bytes(f"{prefix}/audio.txt", b"Spoken title.\n\nSpoken body.\n")
    storage.write_bytes(f"{prefix}/audio.json", b'{"paragraph_times": [[0, 1.2], [1.2, 3]]}')
    html = client.get(f"/listen/{aid}").text
    assert '<p data-start="0.0" data-end="1.2">Spoken title.</p>' in html
    assert '<p data-start="1.2" data-end="3.0">Spoken body.</p>' in html


def test_times_are_not_put_on_the_articles_own_text(
    client: TestClient, web_settings: Settings, storage: LocalStorage, mp3_bytes: bytes
) -> None:
    with db.session_scope(web_settings) as session:
        article = add_article_with_audio(session, storage, mp3_bytes)
        aid, prefix = article.id, article.storage_prefix
    # title + two paragraphs = 3, as many spans: still not the text that was spoken
    storage.write_bytes(f"{prefix}/audio.json", b'{"paragraph_times": [[0, 1], [1, 2], [2, 3]]}')
    html = client.get(f"/listen/{aid}").text
    assert "First paragraph about the grid." in html
    assert "data-start" not in html


def test_an_article_without_its_audio_file_says_it_is_not_ready(
    client: TestClient, web_settings: Settings, storage: LocalStorage, mp3_bytes: bytes
) -> None:
    with db.session_scope(web_settings) as session:
        article = add_article_with_audio(session, storage, mp3_bytes)
        aid, prefix = article.id, article.storage_prefix
    storage.delete(f"{prefix}/audio.mp3")
    html = client.get(f"/listen/{aid}").text
    assert "The audio version is not ready yet." in html
    assert "<audio" not in html and "/static/player.js" not in html
    assert "<track" not in html  # a captions file alone is not offered


def test_the_description_is_the_summary_else_the_title(
    client: TestClient, web_settings: Settings, storage: LocalStorage, mp3_bytes: bytes
) -> None:
    with db.session_scope(web_settings) as session:
        with_summary = add_article_with_audio(session, storage, mp3_bytes, title="Titled")
        without = add_article_with_audio(
            session, storage, mp3_bytes, title="Only a title", url="https://news.example.org/2"
        )
        without.summary = ""
        ids = with_summary.id, without.id
    assert '<meta name="description" content="A summary.">' in client.get(f"/listen/{ids[0]}").text
    assert (
        '<meta name="description" content="Only a title">' in client.get(f"/listen/{ids[1]}").text
    )


def test_a_story_of_an_edition_links_to_the_whole_edition(
    client: TestClient, web_settings: Settings, storage: LocalStorage, mp3_bytes: bytes
) -> None:
    with db.session_scope(web_settings) as session:
        digest = add_digest(session, storage)
        alone = add_article_with_audio(session, storage, mp3_bytes)
        inside = add_article_with_audio(
            session, storage, mp3_bytes, url="https://news.example.org/in", digest=digest
        )
        ids = alone.id, inside.id
    assert 'href="/edition/' not in client.get(f"/listen/{ids[0]}").text
    assert 'href="/edition/2026-11-27"' in client.get(f"/listen/{ids[1]}").text


def test_the_page_is_in_the_storys_language(
    client: TestClient, web_settings: Settings, storage: LocalStorage, mp3_bytes: bytes
) -> None:
    with db.session_scope(web_settings) as session:
        article = add_article_with_audio(session, storage, mp3_bytes, title="Світло повернулося")
        article.language = "uk"
        aid = article.id
    html = client.get(f"/listen/{aid}").text
    assert '<html lang="uk"' in html
    assert "Listen" not in html.split("<article>", 1)[1].split("</h1>", 1)[0]  # its kicker too


def test_ids_that_are_not_ids_are_not_found(client: TestClient) -> None:
    for path in ("0", "-1", "1.0", "99999999999999999999", "%D9%A3"):  # the last: Arabic 3
        assert client.get(f"/listen/{path}").status_code == 404, path


# ---------------------------------------------------------------- /edition/{day}
def add_story(
    web_settings: Settings,
    storage: LocalStorage,
    mp3: bytes,
    digest_id: int,
    title: str,
    hour: int,
    *,
    audio: bool = True,
    vtt: bool = True,
) -> int:
    with db.session_scope(web_settings) as session:
        article = add_article_with_audio(
            session, storage, mp3, title=title, url=f"https://news.example.org/{title}", vtt=vtt
        )
        article.digest_id = digest_id
        article.published_at = datetime(2026, 11, 27, hour, tzinfo=UTC)
        if not audio:
            session.delete(session.scalars(select(Audio).filter_by(article_id=article.id)).one())
        return article.id


def test_the_edition_plays_its_stories_with_audio_newest_first(
    client: TestClient, web_settings: Settings, storage: LocalStorage, mp3_bytes: bytes
) -> None:
    with db.session_scope(web_settings) as session:
        digest_id = add_digest(session, storage).id
    older = add_story(web_settings, storage, mp3_bytes, digest_id, "older", 4, vtt=False)
    newer = add_story(web_settings, storage, mp3_bytes, digest_id, "newer", 6)
    add_story(web_settings, storage, mp3_bytes, digest_id, "silent", 5, audio=False)
    gone = add_story(web_settings, storage, mp3_bytes, digest_id, "file-gone", 5)
    with db.session_scope(web_settings) as session:
        prefix = session.get(Article, gone).storage_prefix  # type: ignore[union-attr]
    storage.delete(f"{prefix}/audio.mp3")

    r = client.get("/edition/2026-11-27")
    assert r.status_code == 200
    html = r.text.split('id="playlist"', 1)[1]  # the list (the player's own ids come before)
    assert "2 stories" in r.text
    assert html.index(f'data-id="{newer}"') < html.index(f'data-id="{older}"')
    assert "silent" not in html and "file-gone" not in html
    newer_li = html.split(f'data-id="{newer}"', 1)[1].split("</li>", 1)[0]
    older_li = html.split(f'data-id="{older}"', 1)[1].split("</li>", 1)[0]
    assert "data-vtt=" in newer_li and "data-vtt=" not in older_li
    assert '<span class="meta">0:03</span>' in newer_li


def test_an_edition_without_audio_says_so(
    client: TestClient, web_settings: Settings, storage: LocalStorage
) -> None:
    with db.session_scope(web_settings) as session:
        add_digest(session, storage)
    html = client.get("/edition/2026-11-27").text
    assert "No story of this edition has audio yet." in html
    assert "/static/player.js" not in html


def test_an_edition_not_sent_is_not_found(
    client: TestClient, web_settings: Settings, storage: LocalStorage, mp3_bytes: bytes
) -> None:
    with db.session_scope(web_settings) as session:
        digest_id = add_digest(session, storage, state=DigestState.built).id
    add_story(web_settings, storage, mp3_bytes, digest_id, "unsent", 6)
    for state in (DigestState.built, DigestState.held, DigestState.cancelled, DigestState.sent):
        with db.session_scope(web_settings) as session:
            digest = session.get(Digest, digest_id)
            assert digest is not None
            digest.state = state
        r = client.get("/edition/2026-11-27")
        if state == DigestState.sent:
            assert r.status_code == 200 and "unsent" in r.text  # the same edition, once sent
        else:
            assert r.status_code == 404 and "unsent" not in r.text, state


def test_no_edition_that_day(client: TestClient) -> None:
    for day in ("2026-11-28", "2026-13-01", "20261127", "yesterday"):
        assert client.get(f"/edition/{day}").status_code == 404, day


def test_another_newsletters_edition_has_its_own_path(
    client: TestClient, web_settings: Settings, storage: LocalStorage, mp3_bytes: bytes
) -> None:
    with db.session_scope(web_settings) as session:
        weekly = add_digest(session, storage)
        weekly.newsletter = "weekly"
        weekly_id = weekly.id
    story = add_story(web_settings, storage, mp3_bytes, weekly_id, "weekly-story", 6)
    assert client.get("/edition/2026-11-27").status_code == 404  # the daily has none that day
    r = client.get("/edition/weekly/2026-11-27")
    assert r.status_code == 200 and f'data-id="{story}"' in r.text
    assert "/edition/weekly/2026-11-27" in r.text  # its own address in og:url
    assert client.get(f"/edition/{'x' * 65}/2026-11-27").status_code == 404
