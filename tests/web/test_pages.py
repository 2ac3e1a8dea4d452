"""Listen, briefing and archive pages; security headers on them."""

from __future__ import annotations

from datetime import date

from fastapi.testclient import TestClient

from tests.web.conftest import add_article_with_audio, add_digest
from web.pages import format_duration, paragraphs, safe_link
from worker import db
from worker.settings import Settings
from worker.storage import LocalStorage


def test_listen_page(client: TestClient, article_id: int) -> None:
    r = client.get(f"/listen/{article_id}")
    assert r.status_code == 200
    html = r.text
    assert '<audio id="player" controls preload="metadata" src="/media/articles/2026/11/27/' in html
    assert '<track kind="captions" src="/media/articles/2026/11/27/' in html
    assert "audio.vtt" in html
    assert '<span id="duration">0:03</span>' in html
    assert "First paragraph about the grid." in html and "Second paragraph." in html
    assert 'href="https://news.example.org/grid"' in html
    assert "Kyiv&#39;s power grid" in html  # autoescaped
    # the audio and captions the page points at are served
    src = html.split('src="', 2)[1].split('"')[0]
    assert client.get(src).headers["content-type"] == "audio/mpeg"


def test_listen_page_escapes_and_refuses_script_links(
    client: TestClient, web_settings: Settings, storage: LocalStorage, mp3_bytes: bytes
) -> None:
    with db.session_scope(web_settings) as session:
        article = add_article_with_audio(
            session,
            storage,
            mp3_bytes,
            title="<script>alert(1)</script>",
            url="javascript:alert(1)",
            body_html="<p>ok &amp; <b>bold</b></p><script>alert(2)</script>",
            vtt=False,
        )
        aid = article.id
    html = client.get(f"/listen/{aid}").text
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "javascript:" not in html
    assert "alert(2)" not in html
    assert "ok &amp; bold" in html
    assert "<track" not in html  # no captions file: no track


def test_listen_missing(client: TestClient) -> None:
    assert client.get("/listen/12345").status_code == 404
    assert client.get("/listen/abc").status_code == 404


def test_briefing_page(
    client: TestClient, web_settings: Settings, storage: LocalStorage, mp3_bytes: bytes
) -> None:
    with db.session_scope(web_settings) as session:
        digest = add_digest(session, storage)
        add_article_with_audio(session, storage, mp3_bytes, title="Story one", digest=digest)
    storage.write_bytes("digests/2026-11-27/briefing.mp3", mp3_bytes)
    r = client.get("/briefing/2026-11-27")
    assert r.status_code == 200
    assert 'src="/media/digests/2026-11-27/briefing.mp3"' in r.text
    assert "Story one" in r.text and "/listen/" in r.text
    assert '<span id="duration">0:03</span>' in r.text
    assert client.get("/briefing/2026-11-28").status_code == 404
    assert client.get("/briefing/not-a-day").status_code == 404


def test_archive(client: TestClient, web_settings: Settings, storage: LocalStorage) -> None:
    with db.session_scope(web_settings) as session:
        add_digest(session, storage, date(2026, 11, 26))
        add_digest(session, storage, date(2026, 11, 27))
    home = client.get("/").text
    assert 'href="/briefing/2026-11-27"' in home and 'action="/subscribe"' in home
    r = client.get("/digests/")
    assert r.status_code == 200
    assert r.text.index("/digests/2026-11-27") < r.text.index("/digests/2026-11-26")
    day = client.get("/digests/2026-11-27")
    assert day.status_code == 200
    assert "web copy" in day.text
    assert "script-src" not in day.headers["content-security-policy"]
    assert "default-src 'none'" in day.headers["content-security-policy"]
    assert client.get("/digests/2026-11-25").status_code == 404
    assert client.get("/digests/..%2f..%2fdigestcast.db").status_code == 404


def test_security_headers(client: TestClient, article_id: int) -> None:
    for path in ("/", f"/listen/{article_id}", "/digests/", "/healthz", "/nope"):
        h = client.get(path).headers
        assert h["x-content-type-options"] == "nosniff"
        assert h["x-frame-options"] == "DENY"
        assert h["referrer-policy"] == "no-referrer"
        assert "frame-ancestors 'none'" in h["content-security-policy"]
        assert h["strict-transport-security"] == "max-age=31536000"  # the client speaks https


def test_no_hsts_over_plain_http(web_settings: Settings) -> None:
    from web.app import create_app

    with TestClient(create_app(web_settings), base_url="http://127.0.0.1") as c:
        assert "strict-transport-security" not in c.get("/healthz").headers


def test_helpers() -> None:
    assert format_duration(3.4) == "0:03"
    assert format_duration(3725) == "1:02:05"
    assert format_duration(None) is None
    assert safe_link("https://example.org/a") == "https://example.org/a"
    assert safe_link("javascript:alert(1)") is None
    assert safe_link("//evil.example") is None
    assert paragraphs("<p>a</p><ul><li>b</li></ul>c<br>d") == ["a", "b", "c", "d"]


def test_listen_prefers_the_spoken_transcript(
    client: TestClient, web_settings: Settings, storage: LocalStorage, mp3_bytes: bytes
) -> None:
    with db.session_scope(web_settings) as session:
        article = add_article_with_audio(session, storage, mp3_bytes)
        aid, prefix = article.id, article.storage_prefix
    storage.write_bytes(f"{prefix}/audio.txt", b"Spoken title.\n\nSpoken <b>body</b>.\n")
    html = client.get(f"/listen/{aid}").text
    assert "<p>Spoken title.</p>" in html
    assert "<p>Spoken &lt;b&gt;body&lt;/b&gt;.</p>" in html
    assert "Second paragraph." not in html


def test_briefing_transcript_and_duration_from_json(
    client: TestClient, web_settings: Settings, storage: LocalStorage, mp3_bytes: bytes
) -> None:
    with db.session_scope(web_settings) as session:
        add_digest(session, storage)
    storage.write_bytes("digests/2026-11-27/briefing.mp3", mp3_bytes)
    storage.write_bytes("digests/2026-11-27/briefing.json", b'{"duration_seconds": 125.4}')
    storage.write_bytes("digests/2026-11-27/briefing.txt", b"Good morning.\n\nFirst story.\n")
    storage.write_bytes("digests/2026-11-27/briefing.vtt", b"WEBVTT\n")
    html = client.get("/briefing/2026-11-27").text
    assert '<span id="duration">2:05</span>' in html
    assert "<p>Good morning.</p>" in html and "<p>First story.</p>" in html
    assert 'src="/media/digests/2026-11-27/briefing.vtt"' in html


def test_archive_alias_redirects_only_inside(client: TestClient) -> None:
    r = client.get("/archive/2026-11-27", follow_redirects=False)
    base = "https://daily.example.org"  # PUBLIC_BASE_URL, never the request's Host
    assert r.status_code == 308 and r.headers["location"] == f"{base}/briefing/2026-11-27"
    r = client.get("/archive/", follow_redirects=False, headers={"Host": "evil.example"})
    assert r.status_code == 308 and r.headers["location"] == f"{base}/digests/"
    for bad in ("//evil.example", "https:%2f%2fevil.example", "2026-11-27%0d%0aX:1"):
        r = client.get(f"/archive/{bad}", follow_redirects=False)
        assert r.status_code == 404
        assert "location" not in r.headers


def test_pages_about_the_reader_follow_accept_language(client: TestClient) -> None:
    """Subscribe (a page about the reader) speaks the browser's language among the catalogues,
    English otherwise; the pages about the default newsletter stay in its language."""
    cases = {
        "uk-UA,uk;q=0.9,en;q=0.8": "uk",
        "fr-FR, en;q=0.5, uk;q=0.4": "en",
        "de, uk;q=0.3": "uk",
        "fr": "en",
        "": "en",
        "uk;q=0": "en",
    }
    for header, lang in cases.items():
        page = client.get("/subscribe", headers={"Accept-Language": header}).text
        assert f'<html lang="{lang}">' in page, header
        assert ("Електронна адреса" in page) == (lang == "uk"), header
    archive = client.get("/digests/", headers={"Accept-Language": "uk"}).text
    assert "Попередні випуски" in archive  # every newsletter's archive: the reader's
    assert "Accept-Language" in client.get("/subscribe").headers.get("vary", "")
