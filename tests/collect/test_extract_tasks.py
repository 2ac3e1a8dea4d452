"""Full-text extraction from article pages, and the Celery tasks (eager, embedded mode)."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select

from tests.collect.helpers import FeedServer, Route
from worker import db
from worker.celery_app import configure
from worker.collect.extract import extract_main_html
from worker.collect.tasks import collect_all_task
from worker.models import Article
from worker.settings import Settings

PARAGRAPH = (
    "The council met for the third time this month to discuss the heating season, and the "
    "engineers presented a plan that covers every district of the city before the frost. "
)


def page(title: str) -> bytes:
    return f"""<!doctype html><html><head><title>{title}</title>
<script>window.tracker = 1</script></head><body>
<nav><a href="/">Home</a> <a href="/about">About</a> Menu menu menu</nav>
<article><h1>{title}</h1>
<p>{PARAGRAPH * 3}</p>
<p onclick="steal()">Second paragraph with a <a href="/related">related story</a>.
<script>alert('x')</script></p>
<p>{PARAGRAPH * 2}</p>
</article>
<footer>Copyright footer text, cookie banner, subscribe now!</footer>
</body></html>""".encode()


def test_extract_main_html_keeps_the_article_only() -> None:
    body = extract_main_html(page("Heating plan"), "https://city.example.org/heating")
    assert body is not None
    assert "engineers presented a plan" in body
    assert 'href="https://city.example.org/related"' in body
    for gone in ("<script", "onclick", "Menu menu", "cookie banner", "<h1", "tracker"):
        assert gone not in body


def test_extract_returns_none_for_non_articles() -> None:
    assert (
        extract_main_html(b"<html><body><p>short</p></body></html>", "https://a.example/") is None
    )
    assert extract_main_html(b"\x00\xff garbage", "https://a.example/") is None


def _sources(settings: Settings, tmp_path: Path, body: str) -> Settings:
    path = tmp_path / "sources.toml"
    path.write_text(body)
    return settings.model_copy(update={"sources": path})


def test_full_text_source_stores_the_page_text(
    settings: Settings, tmp_path: Path, feed_server: FeedServer
) -> None:
    feed = f"""<?xml version="1.0"?><rss version="2.0"><channel><title>S</title>
<link>{feed_server.url("/")}</link>
<item><title>Heating plan</title><link>{feed_server.url("/story")}</link><guid>h1</guid>
<description>Only a teaser.</description></item>
<item><title>Gone page</title><link>{feed_server.url("/missing")}</link><guid>h2</guid>
<description>Teaser of a page that 404s.</description></item>
</channel></rss>""".encode()
    feed_server.routes["/feed"] = Route(body=feed)
    feed_server.routes["/story"] = Route(body=page("Heating plan"), content_type="text/html")
    s = _sources(
        settings,
        tmp_path,
        f'[[source]]\nname = "Summaries"\nurl = "{feed_server.url("/feed")}"\n'
        'kind = "articles"\nfull_text = true\nlocal = true\n',
    )
    configure(s)
    out = collect_all_task.delay().get()
    assert out["sources"] == 1
    (result,) = out["results"]
    assert result["ok"] and len(result["new_articles"]) == 2
    with db.session_scope(s) as session:
        story = session.scalar(select(Article).where(Article.guid == "Summaries:h1"))
        gone = session.scalar(select(Article).where(Article.guid == "Summaries:h2"))
        assert story is not None and gone is not None
        assert "engineers presented a plan" in story.body_html
        assert story.summary == "Only a teaser."
        assert (
            gone.body_html == "Only a teaser." or "Teaser" in gone.body_html
        )  # feed text stands in
        doc = json.loads((s.data_dir / story.storage_prefix / "article.json").read_text())
        assert "engineers presented a plan" in doc["body_html"]
    # a second run: the feed entry is unchanged, so the page is not fetched again
    pages_before = len(feed_server.hits_for("/story"))
    collect_all_task.delay().get()
    assert len(feed_server.hits_for("/story")) == pages_before


def test_full_text_budget_defers_the_rest(
    settings: Settings, tmp_path: Path, feed_server: FeedServer
) -> None:
    items = "".join(
        f"<item><title>Story {n}</title><link>{feed_server.url(f'/s{n}')}</link>"
        f"<guid>s{n}</guid><description>Teaser {n}.</description></item>"
        for n in range(3)
    )
    feed = (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>S</title>{items}</channel></rss>'
    )
    feed_server.routes["/feed"] = Route(body=feed.encode(), etag='"same"')
    for n in range(3):
        feed_server.routes[f"/s{n}"] = Route(body=page(f"Story {n}"), content_type="text/html")
    s = _sources(
        settings.model_copy(update={"full_text_max_pages": 2}),
        tmp_path,
        f'[[source]]\nname = "F"\nurl = "{feed_server.url("/feed")}"\n'
        'kind = "articles"\nfull_text = true\nlocal = true\n',
    )
    configure(s)
    (first,) = collect_all_task.delay().get()["results"]
    assert len(first["new_articles"]) == 2 and first["deferred"] == 1
    # the validators were not kept, so the next run reads the feed again (no 304) and catches up
    (second,) = collect_all_task.delay().get()["results"]
    assert not second["not_modified"] and len(second["new_articles"]) == 1
    assert second["deferred"] == 0
    with db.session_scope(s) as session:
        bodies = list(session.scalars(select(Article.body_html)))
    assert len(bodies) == 3 and all("engineers presented a plan" in b for b in bodies)
    (third,) = collect_all_task.delay().get()["results"]
    assert third["not_modified"]


def test_full_text_kept_when_the_page_fails_later(
    settings: Settings, tmp_path: Path, feed_server: FeedServer
) -> None:
    def feed(teaser: str) -> bytes:
        return (
            '<?xml version="1.0"?><rss version="2.0"><channel><title>S</title>'
            f"<item><title>Story</title><link>{feed_server.url('/s')}</link><guid>s</guid>"
            f"<description>{teaser}</description></item></channel></rss>"
        ).encode()

    feed_server.routes["/feed"] = Route(body=feed("Teaser one."))
    feed_server.routes["/s"] = Route(body=page("Story"), content_type="text/html")
    s = _sources(
        settings,
        tmp_path,
        f'[[source]]\nname = "F"\nurl = "{feed_server.url("/feed")}"\n'
        'kind = "articles"\nfull_text = true\nlocal = true\n',
    )
    configure(s)
    (first,) = collect_all_task.delay().get()["results"]
    assert len(first["new_articles"]) == 1
    feed_server.routes["/feed"] = Route(body=feed("Teaser two."))
    feed_server.routes["/s"] = Route(status=503)
    (second,) = collect_all_task.delay().get()["results"]
    assert second["ok"] and not second["updated_articles"]  # same text: no new audio
    with db.session_scope(s) as session:
        (article,) = session.scalars(select(Article))
        assert "engineers presented a plan" in article.body_html
        assert article.summary == "Teaser two."
