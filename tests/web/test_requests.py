"""Odd requests through the real app: digits that are not ASCII, huge numbers, odd dates, big
bodies, HEAD, redirects, error pages; every answer carries the security headers, none is 5xx."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.web.conftest import ADMIN_TOKEN, DAY, add_digest
from web.app import create_app
from web.params import parse_day, parse_id
from web.protocol import RedactTokens, redact_path
from worker import db
from worker.settings import Settings
from worker.storage import LocalStorage

SECURITY_HEADERS = ("x-content-type-options", "content-security-policy", "x-frame-options")
KEY = "articles/2026/11/27/sample/audio.mp3"
ODD_NUMBERS = [
    "²",
    "٣",
    "１２",
    "1²",
    "99999999999999999999999999",
    "9" * 5000,
    "-1",
    "+1",
    " 1",
    "0",
]
ODD_DAYS = ["2026-1-27", "２０２６-11-27", "2026-11-2７", "20261127", "2026-W48-5", "2026-02-30",
            "0000-01-01", "99999-01-01", "2026-11-27T00", "2026-11-27 ", "１"]  # fmt: skip


def raw(value: str) -> bytes:
    """A header value as a client puts it on the wire: Latin-1 where it fits, else UTF-8."""
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8")


def secure(r: object) -> None:
    headers = r.headers  # type: ignore[attr-defined]
    for name in SECURITY_HEADERS:
        assert name in headers, (name, r)


@pytest.fixture
def mp3_key(storage: LocalStorage, mp3_bytes: bytes) -> str:
    storage.write_bytes(KEY, mp3_bytes)
    return KEY


def test_parsers_take_ascii_digits_only() -> None:
    assert parse_id("42") == 42
    for odd in ODD_NUMBERS:
        assert parse_id(odd) is None, odd
    assert parse_id(str(2**63 - 1)) == 2**63 - 1
    assert parse_id(str(2**63)) is None
    assert parse_day("2026-11-27") == DAY
    for odd in ODD_DAYS:
        assert parse_day(odd) is None, odd


@pytest.mark.parametrize("value", ODD_NUMBERS)
def test_odd_article_ids_are_404(client: TestClient, value: str) -> None:
    r = client.get(f"/listen/{value}")
    assert r.status_code == 404
    secure(r)


@pytest.mark.parametrize("value", ODD_DAYS + ODD_NUMBERS)
def test_odd_days_are_404(client: TestClient, value: str) -> None:
    for route in ("/briefing/{}", "/digests/{}", "/archive/{}"):
        r = client.get(route.format(value), follow_redirects=False)
        assert r.status_code == 404, (route, value, r.status_code)
        secure(r)
    r = client.get(
        f"/admin/digests/{value}/status", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )
    assert r.status_code in (404, 422), (value, r.status_code)
    secure(r)


@pytest.mark.parametrize(
    ("header", "status"),
    [
        ("bytes=²-", 200),  # not ASCII digits: Range ignored, the whole file (RFC 9110 allows it)
        ("bytes=-²", 200),
        ("bytes=0-٣", 200),
        ("bytes=99999999999999999999999999-", 416),
        ("bytes=" + "9" * 5000 + "-", 416),  # past int()'s 4300-digit limit
        ("bytes=0-99999999999999999999999999", 206),
        ("bytes=-99999999999999999999999999", 206),
        ("bytes=0-" + "9" * 5000, 206),
        ("bytes= 1 - 2 ", 206),
        ("bytes=1-2-3", 200),
    ],
)
def test_odd_ranges(client: TestClient, mp3_key: str, header: str, status: int) -> None:
    r = client.get(f"/media/{mp3_key}", headers={"Range": raw(header)})
    assert r.status_code == status, (header, r.status_code)
    secure(r)


def test_odd_conditional_dates(client: TestClient, mp3_key: str) -> None:
    for value in ("Mon, 99 Feb 99999 99:99:99 GMT", "²", "Tue, 1 Jan 10000 00:00:00 GMT", "-"):
        for name in ("If-Modified-Since", "If-Range"):
            r = client.get(f"/media/{mp3_key}", headers={name: raw(value), "Range": "bytes=0-1"})
            assert r.status_code < 500, (name, value)


def _chunks(total: int, size: int = 16384) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        yield b"a" * min(size, total - sent)
        sent += size


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/subscribe", "application/x-www-form-urlencoded"),
        ("/u/some-token", "application/x-www-form-urlencoded"),
        ("/confirm/some-token", "application/x-www-form-urlencoded"),
        ("/preferences/x", "multipart/form-data; boundary=xyz"),
    ],
)
def test_form_bodies_are_capped_while_reading(
    client: TestClient, web_settings: Settings, path: str, content_type: str
) -> None:
    """No Content-Length to trust (chunked): the cap counts what arrives."""
    too_big = web_settings.form_max_bytes + 1
    r = client.post(path, content=_chunks(too_big), headers={"Content-Type": content_type})
    assert r.status_code == 413
    secure(r)
    r = client.post(path, content=b"a" * too_big, headers={"Content-Type": content_type})
    assert r.status_code == 413  # with a Content-Length: refused before reading


def test_the_admin_api_has_a_larger_cap(client: TestClient, web_settings: Settings) -> None:
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}
    between = web_settings.form_max_bytes * 2  # over the form cap, under the admin cap
    padded = b'{"date": "2026-11-27", "to": "a@example.org", "reason": "' + b"x" * between + b'"}'
    r = client.post("/admin/resend", content=padded, headers=auth)
    assert r.status_code == 422  # read and judged (reason too long), not cut off
    r = client.post(
        "/admin/resend", content=_chunks(web_settings.admin_max_body_bytes + 1), headers=auth
    )
    assert r.status_code == 413
    secure(r)
    # unauthenticated, the same: the body is never read past the cap
    r = client.post("/admin/resend", content=_chunks(web_settings.admin_max_body_bytes + 1))
    assert r.status_code == 413


def test_every_error_page_carries_the_security_headers(
    web_settings: Settings, monkeypatch: pytest.MonkeyPatch, storage: LocalStorage
) -> None:
    with db.session_scope(web_settings) as session:
        add_digest(session, storage)

    def broken(*_: object) -> object:
        raise RuntimeError("an unexpected failure")

    monkeypatch.setattr("web.pages.get_storage", broken)
    app = create_app(web_settings)
    with TestClient(app, base_url="https://daily.example.org", raise_server_exceptions=False) as c:
        answers = {
            500: c.get(f"/briefing/{DAY.isoformat()}"),
            404: c.get("/no-such-page"),
            405: c.delete("/subscribe"),
            413: c.post("/subscribe", content=b"x" * (web_settings.form_max_bytes + 1)),
            422: c.post(
                "/admin/resend",
                json={"date": "not a date"},
                headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            ),
            401: c.post("/admin/collect"),
        }
    for status, r in answers.items():
        assert r.status_code == status, (status, r.status_code, r.text[:200])
        secure(r)
        assert r.headers["strict-transport-security"].startswith("max-age=")
    assert "an unexpected failure" not in answers[500].text


@pytest.mark.parametrize(
    "path", ["/", "/subscribe", "/digests/", "/healthz", "/readyz", "/metrics", "/static/site.css"]
)
def test_head_works_wherever_get_does(client: TestClient, path: str) -> None:
    get = client.get(path)
    head = client.head(path)
    assert head.status_code == get.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]
    if path not in ("/", "/subscribe", "/metrics"):  # those carry a fresh token or counter
        assert head.headers["content-length"] == get.headers["content-length"]
    secure(head)


def test_head_on_pages_with_ids(client: TestClient, article_id: int) -> None:
    assert client.head(f"/listen/{article_id}").status_code == 200
    assert client.head("/listen/²").status_code == 404
    assert client.head("/u/x").status_code == 400


def test_redirects_never_echo_the_host_header(client: TestClient) -> None:
    for path, target in [("/digests", "/digests/"), ("/subscribe/", "/subscribe")]:
        r = client.get(path, headers={"Host": "evil.example"}, follow_redirects=False)
        assert r.status_code in (307, 308), path
        assert r.headers["location"] == f"https://daily.example.org{target}"
        secure(r)
    r = client.get("/digests?x=1", headers={"Host": "evil.example"}, follow_redirects=False)
    assert r.headers["location"] == "https://daily.example.org/digests/?x=1"
    # POST is never redirected (the body would be lost); an encoded slash has no twin
    assert client.post("/subscribe/", follow_redirects=False).status_code == 404
    r = client.get("/u/%2e%2e%2f", follow_redirects=False)
    assert r.status_code == 404 and "location" not in r.headers


@pytest.mark.parametrize(
    ("path", "logged"),
    [
        ("/u/MTI.abc.def", "/u/[token]"),
        ("/preferences/MTI.abc.def?x=1", "/preferences/[token]?[query]"),
        ("/confirm/1.n.t.s", "/confirm/[token]"),
        ("/listen/5?utm=x", "/listen/5?[query]"),
        ("/digests/", "/digests/"),
    ],
)
def test_tokens_are_kept_out_of_the_access_log(path: str, logged: str) -> None:
    assert redact_path(path) == logged
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", path, "1.1", 200),
        None,
    )
    assert RedactTokens().filter(record)
    assert record.getMessage() == f'127.0.0.1:5000 - "GET {logged} HTTP/1.1" 200'
