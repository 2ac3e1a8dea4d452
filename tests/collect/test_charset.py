"""Which bytes mean which text: feedparser decides from the bytes and the real HTTP headers.

The order is the HTTP charset, the XML declaration, the byte order mark, then detection
(chardet); a source's `encoding` overrides a server that lies. Every case is checked against
feedparser's own reading of the same bytes, through the parser and through a real collection.
"""

from __future__ import annotations

import io
from pathlib import Path

import feedparser
import pytest

from tests.collect.helpers import FeedServer, Route, collect_all, write_sources
from worker import db
from worker.collect.parse import parse_feed
from worker.models import Article
from worker.settings import Settings

BASE = "https://charset.example.org/feed.xml"
# a headline and a paragraph per legacy charset, long enough to be recognized as that language
LEGACY = {
    "koi8-r": (
        "Новости дня: в северных регионах открыли школы",
        "Правительство объявило о новых мерах поддержки для жителей северных регионов. "
        "Эксперты считают, что это поможет экономике и образованию.",
    ),
    "shift_jis": (
        "今日のニュース：東京の新しい交通計画",
        "東京都は新しい交通計画を発表しました。専門家によると、この計画は市民の生活を"
        "より便利にするということです。",
    ),
    "euc-jp": (
        "今日のニュース：大阪で新しい図書館",
        "大阪市は新しい図書館を開きました。市民は本を借りることができ、子供たちのための"
        "部屋もあります。",
    ),
    "euc-kr": (
        "오늘의 뉴스: 서울의 새로운 교통 계획",
        "서울시는 새로운 교통 계획을 발표했습니다. 전문가들은 이 계획이 시민들의 생활을 "
        "더 편리하게 만들 것이라고 말했습니다.",
    ),
    "gb2312": (
        "今日新闻：北京公布新的交通计划",
        "北京市政府宣布了新的交通计划。专家认为，这项计划将使市民的生活更加方便，并促进经济发展。",
    ),
    "tis-620": (
        "ข่าววันนี้: รัฐบาลประกาศมาตรการใหม่",
        "รัฐบาลประกาศมาตรการใหม่เพื่อช่วยเหลือประชาชนในภาคเหนือ ผู้เชี่ยวชาญเชื่อว่าจะช่วยเศรษฐกิจได้มาก",
    ),
}


def rss(title: str, text: str, declaration: str = "", key: str = "1") -> str:
    return (
        f"{declaration}<rss version='2.0'><channel><title>{title}</title>"
        f"<link>https://charset.example.org/</link><item><title>{title}</title>"
        f"<link>https://charset.example.org/{key}</link><guid>c-{key}</guid>"
        f"<description>{text}</description></item></channel></rss>"
    )


def reference_title(data: bytes, content_type: str) -> str:
    parsed = feedparser.parse(io.BytesIO(data), response_headers={"content-type": content_type})
    return str(parsed.entries[0].title)


@pytest.mark.parametrize("codec", sorted(LEGACY))
@pytest.mark.parametrize("content_type", ["application/rss+xml", "text/xml", ""])
def test_legacy_charsets_without_a_declaration(codec: str, content_type: str) -> None:
    title, text = LEGACY[codec]
    data = rss(title, text).encode(codec)
    feed = parse_feed(data, url=BASE, content_type=content_type)
    assert feed.items[0].title == title
    assert text[:20] in feed.items[0].summary
    assert feed.items[0].title == reference_title(data, content_type or "application/xml")


@pytest.mark.parametrize(
    ("codec", "bom"),
    [
        ("utf-16-le", b""),
        ("utf-16-be", b""),
        ("utf-16-le", b"\xff\xfe"),
        ("utf-32-le", b"\xff\xfe\x00\x00"),
        ("utf-32-be", b"\x00\x00\xfe\xff"),
    ],
)
def test_utf16_and_utf32_with_or_without_a_bom(codec: str, bom: bytes) -> None:
    title = "Київ, Zürich, 東京"
    declared = codec.rsplit("-", 1)[0]  # "utf-16" / "utf-32", as feeds write it
    data = bom + rss(title, "Текст.", f'<?xml version="1.0" encoding="{declared}"?>').encode(codec)
    assert parse_feed(data, url=BASE).items[0].title == title


def test_the_http_charset_wins_over_the_declaration() -> None:
    title, text = LEGACY["koi8-r"]
    data = rss(title, text, '<?xml version="1.0" encoding="windows-1251"?>').encode("koi8-r")
    feed = parse_feed(data, url=BASE, content_type="application/rss+xml; charset=koi8-r")
    assert feed.items[0].title == title and feed.encoding == "koi8-r"
    assert feed.items[0].title == reference_title(data, "application/rss+xml; charset=koi8-r")


def test_an_override_wins_over_a_lying_server() -> None:
    title, text = LEGACY["euc-kr"]
    data = rss(title, text, '<?xml version="1.0" encoding="utf-8"?>').encode("euc-kr")
    lied = "application/rss+xml; charset=iso-8859-1"
    assert parse_feed(data, url=BASE, content_type=lied).items[0].title != title
    assert parse_feed(data, url=BASE, content_type=lied, encoding="euc-kr").items[0].title == title


def test_json_feed_in_utf16_and_with_a_bom() -> None:
    body = (
        '{"version": "https://jsonfeed.org/version/1.1", "title": "J", "items": '
        '[{"id": "1", "title": "Київ", "content_text": "Текст."}]}'
    )
    for data in (body.encode("utf-16"), b"\xef\xbb\xbf" + body.encode(), body.encode("utf-16-be")):
        assert parse_feed(data, url=BASE).items[0].title == "Київ"


def test_collected_over_http_with_the_headers_as_sent(
    any_db_settings: Settings, tmp_path: Path
) -> None:
    """Each legacy feed served without any charset; one served with a lie and overridden."""
    server = FeedServer()
    server.thread.start()
    try:
        specs = []
        for codec, (title, text) in LEGACY.items():
            body = rss(title, text, key=codec).encode(codec)
            server.routes[f"/{codec}"] = Route(body=body, content_type="application/rss+xml")
            specs.append({"name": codec, "url": server.url(f"/{codec}"), "kind": "articles"})
        title, text = LEGACY["koi8-r"]
        body = rss(title, text, key="lie").encode("koi8-r")
        lie = "text/xml; charset=windows-1252"
        server.routes["/lie"] = Route(body=body, content_type=lie)
        specs.append(
            {"name": "lie", "url": server.url("/lie"), "kind": "articles", "encoding": "koi8-r"}
        )
        settings = write_sources(any_db_settings, *specs)
        results = collect_all(settings)
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()
    assert all(r["ok"] for r in results.values()), results
    with db.session_scope(settings) as session:
        titles = {a.source.name: a.title for a in session.query(Article)}
    assert titles == {**{c: t for c, (t, _) in LEGACY.items()}, "lie": LEGACY["koi8-r"][0]}
