"""The parser against the hostile/odd corpus (pure: no I/O beyond reading the corpus)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import pytest

from tests.collect.helpers import corpus
from worker.collect import charset
from worker.collect.parse import FeedError, parse_feed
from worker.collect.text import WORD_JOINER, sanitize_html

NOW = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
BASE = "https://news.example.org/feeds/main.xml"
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def parse(name: str, **kwargs: object) -> list:  # type: ignore[type-arg]
    return parse_feed(corpus(name), url=BASE, now=NOW, **kwargs).items  # type: ignore[arg-type]


ALL = [
    "rss20_full.xml",
    "atom.xml",
    "rss10.rdf",
    "rss091.xml",
    "jsonfeed.json",
    "malformed.xml",
    "billion_laughs.xml",
    "xxe.xml",
    "cyrillic.xml",
    "charset_cp1251.xml",
    "charset_declared_utf8_is_cp1251.xml",
    "charset_declared_cp1251_is_utf8.xml",
]


@pytest.mark.parametrize("name", ALL)
def test_every_corpus_item_is_clean(name: str) -> None:
    items = parse(name)
    assert items, name
    for item in items:
        for text in (item.title, item.summary, item.guid, item.url, item.author or ""):
            assert not CONTROL.search(text), (name, text)
        assert "<script" not in item.body_html.lower()
        assert "javascript:" not in item.body_html.lower()
        assert " on" not in re.sub(r">[^<]*<", "><", item.body_html)  # no event attributes
        assert sanitize_html(item.body_html) == item.body_html  # already through the allowlist
        assert item.published_at.tzinfo is not None
        assert item.published_at <= NOW
        assert len(item.content_hash) == 64
        if item.url:
            assert item.url.startswith(("http://", "https://"))
            assert "#" not in item.url and "utm_" not in item.url


def test_rss20_fields_links_images_and_duplicates() -> None:
    items = {i.guid: i for i in parse("rss20_full.xml")}
    first = items["corpus-rss-1"]
    # CR/LF gone from the title; the escaped tag is text now (escaped again when rendered),
    # with an invisible word joiner after "<" so no later reader can take it for a tag
    assert (
        first.title == "Bridge reopens <\u2060script>alert(1)<\u2060/script> after Injected: header"
    )
    assert first.title.replace(WORD_JOINER, "") == (
        "Bridge reopens <script>alert(1)</script> after Injected: header"
    )
    # relative link resolved against the feed URL; tracking parameters and fragment dropped
    assert first.url == "https://news.example.org/stories/bridge?id=7"
    assert first.canonical_url == first.url
    assert first.author == "Olena Test"
    assert first.categories == ["Infrastructure", "Kyiv"]
    assert first.image_url == "https://cdn.example.org/bridge.jpg"
    assert first.image_caption == "The bridge at dawn."
    assert first.image_credit == "Photo: Test Photographer"
    assert first.published_at == datetime(2026, 11, 26, 7, 0, tzinfo=UTC)
    assert "onclick" not in first.body_html and "<style" not in first.body_html
    assert "<iframe" not in first.body_html
    assert 'href="https://news.example.org/maps/bridge"' in first.body_html
    assert 'src="https://news.example.org/img/inline.jpg"' in first.body_html
    assert "document.cookie" not in first.body_html
    # missing date -> now, marked undated; far-future date -> now
    undated = next(i for i in items.values() if i.title == "No date here")
    assert undated.published_at == NOW and not undated.dated
    assert undated.image_url == "https://cdn.example.org/undated.png"  # from the enclosure
    future = next(i for i in items.values() if i.title == "From the future")
    assert future.published_at == NOW
    # one GUID for two different entries names neither: each is kept, identified by its link
    dups = [i for i in items.values() if i.title.startswith("Duplicate GUID")]
    assert [(d.title, d.guid) for d in dups] == [
        ("Duplicate GUID, first", "https://news.example.org/stories/dup"),
        ("Duplicate GUID, second", "https://news.example.org/stories/dup-2"),
    ]
    thumb = next(i for i in items.values() if i.title == "Thumbnail only")
    assert thumb.image_url == "https://cdn.example.org/thumb.jpg"


def test_future_dates_are_kept_when_not_clamping() -> None:
    items = parse("rss20_full.xml", clamp_future=False)
    future = next(i for i in items if i.title == "From the future")
    assert future.published_at.year == 2039


def test_atom_html_title_xml_base_and_text_content_escaped() -> None:
    items = parse("atom.xml")
    kyiv, plain, xhtml = items
    assert kyiv.title == "Київ готується до зими"  # markup of an HTML title dropped
    assert kyiv.url == "https://atom.example.org/blog/posts/kyiv-winter"  # xml:base, gclid gone
    assert kyiv.image_url == "https://atom.example.org/images/winter.jpg"
    assert kyiv.author == "Ірина Приклад"
    assert kyiv.categories == ["Київ"]
    assert 'href="https://atom.example.org/blog/shelters"' in kyiv.body_html
    assert kyiv.published_at == datetime(2026, 11, 26, 6, 30, tzinfo=UTC)
    # text/plain content is escaped, not interpreted
    visible = plain.body_html.replace(WORD_JOINER, "")
    assert "&lt;script&gt;" in visible and "<b>" not in plain.body_html
    assert plain.body_html.count("<p>") == 2
    assert xhtml.title == "XHTML title"
    assert "<strong>body</strong>" in xhtml.body_html


def test_rss10_and_rss091() -> None:
    a, _ = parse("rss10.rdf")
    assert (a.title, a.url, a.categories) == (
        "RDF item A",
        "https://rdf.example.org/a",
        ["Economy"],
    )
    assert a.published_at == datetime(2026, 11, 26, 5, 15, tzinfo=UTC)
    (old,) = parse("rss091.xml")
    assert old.title == "Old style item" and old.url == "http://old.example.org/item-1"


def test_json_feed() -> None:
    feed = parse_feed(corpus("jsonfeed.json"), url="https://json.example.org/feed.json", now=NOW)
    assert feed.format == "json1.1"
    one, two = feed.items  # the empty item and the non-object are skipped
    assert one.title == "JSON item with HTML and a newline"
    assert one.url == "https://json.example.org/posts/1"
    assert one.body_html == "<p>Hello <b>world</b></p>"
    assert one.author == "Json Author" and one.categories == ["World", "Tech"]
    assert one.image_url == "https://json.example.org/img/1.jpg"
    assert two.url == "https://json.example.org/posts/2"
    assert two.body_html.replace(WORD_JOINER, "") == (
        "<p>Text with &lt;tags&gt; &amp; ampersands.</p>"
    )


def test_entity_attacks_are_harmless() -> None:
    (laugh,) = parse("billion_laughs.xml")
    assert len(laugh.title) < 100 and "lollollol" not in laugh.body_html
    (xxe,) = parse("xxe.xml")
    for text in (xxe.title, xxe.summary, xxe.body_html, xxe.image_caption or ""):
        assert "root:" not in text
    passwd = Path("/etc/passwd").read_text().splitlines()[0]
    assert passwd not in xxe.body_html


def test_wrong_charset_declarations() -> None:
    want = "Зимова підготовка в Харкові"
    assert parse("charset_cp1251.xml")[0].title == want
    # declared utf-8 but really windows-1251: UTF-8 fails, detection (chardet) finds it
    assert parse("charset_declared_utf8_is_cp1251.xml")[0].title == want
    # declared windows-1251 but really UTF-8: the declaration decides, as in feedparser...
    lied = corpus("charset_declared_cp1251_is_utf8.xml")
    reference = feedparser.parse(lied).entries[0].title
    assert parse("charset_declared_cp1251_is_utf8.xml")[0].title == reference != want
    # ...unless the sources file says what the server will not
    assert parse("charset_declared_cp1251_is_utf8.xml", encoding="utf-8")[0].title == want


def test_an_encoding_override_hands_feedparser_utf8() -> None:
    data = '<?xml version="1.0" encoding="koi8-u"?><a>Київ</a>'.encode("koi8_u")
    body, headers = charset.feedparser_input(b"\xef\xbb\xbf" + data, "text/xml", "koi8-u")
    assert body == "<?xml version='1.0' encoding='utf-8'?><a>Київ</a>".encode()
    assert headers == {"content-type": "application/xml; charset=utf-8"}
    # without an override the bytes and the Content-Type go to feedparser as received
    assert charset.feedparser_input(data, "text/xml; charset=koi8-u", None) == (
        data,
        {"content-type": "text/xml; charset=koi8-u"},
    )


def test_malformed_xml_is_read_leniently() -> None:
    items = parse("malformed.xml")
    assert items[0].url == "https://broken.example.org/1"
    assert "<b>" not in items[0].title


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"   ",
        b"<html><body>hi</body></html>",
        b"\x00\x01\x02",
        b"{}",
        b'{"version": 1}',
        b"[1]",
    ],
)
def test_not_a_feed(data: bytes) -> None:
    with pytest.raises(FeedError, match="not a feed"):
        parse_feed(data, url=BASE, now=NOW)


def test_html_page_is_not_a_feed() -> None:
    with pytest.raises(FeedError, match="not a feed"):
        parse_feed(corpus("not_a_feed.html"), url=BASE, now=NOW)


def test_content_hash_follows_title_and_text_not_markup() -> None:
    rss = corpus("rss091.xml")
    base = parse_feed(rss, url=BASE, now=NOW).items[0]
    edited = parse_feed(rss.replace(b"Only a description.", b"Now edited."), url=BASE, now=NOW)
    assert edited.items[0].content_hash != base.content_hash
    retitled = parse_feed(rss.replace(b"Old style item", b"New title"), url=BASE, now=NOW)
    assert retitled.items[0].content_hash != base.content_hash
    same = parse_feed(rss.replace(b"<language>en-us</language>", b""), url=BASE, now=NOW)
    assert same.items[0].content_hash == base.content_hash


def test_relative_guids_are_namespaced_absolute_ones_are_global() -> None:
    rss = corpus("rss20_full.xml")
    items = parse_feed(rss, url="file:///somewhere/feed.xml", now=NOW, guid_namespace="Src").items
    assert items[0].guid == "Src:corpus-rss-1"  # as written, not resolved against the file path
    (atom, *_) = parse_feed(corpus("atom.xml"), url=BASE, now=NOW, guid_namespace="Src").items
    assert atom.guid == "tag:atom.example.org,2026:1"


def test_mislabelled_content_types() -> None:
    xml_as_json = parse_feed(
        corpus("rss10.rdf"), url=BASE, now=NOW, content_type="application/json"
    )
    assert len(xml_as_json.items) == 2
    json_as_xml = parse_feed(corpus("jsonfeed.json"), url=BASE, now=NOW, content_type="text/xml")
    assert json_as_xml.format == "json1.1"
