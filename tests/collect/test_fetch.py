"""The fetcher against a real HTTP server on 127.0.0.1: conditional GET, gzip, redirects,
timeouts, 5xx, size cap, file:// rules and the address guard."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.collect.helpers import FeedServer, Route, corpus
from worker.collect.fetch import (
    FetchError,
    FetchLimits,
    fetch,
    is_public_address,
    make_client,
)

LIMITS = FetchLimits(timeout=2.0, max_bytes=1_000_000, max_redirects=3)
FEED = corpus("rss20_full.xml")


def only(address: str) -> Callable[[str], bool]:
    """An address policy for tests: this one loopback address plays 'the public internet'."""
    return lambda candidate: candidate == address


def test_plain_get_then_304_by_etag(feed_server: FeedServer) -> None:
    feed_server.routes["/feed"] = Route(body=FEED, etag='"v1"')
    first = fetch(feed_server.url("/feed"), local=True, limits=LIMITS)
    assert first.status == 200 and first.content == FEED and first.etag == '"v1"'
    second = fetch(feed_server.url("/feed"), local=True, limits=LIMITS, etag=first.etag)
    assert second.not_modified and second.content == b""
    assert feed_server.hits_for("/feed")[1].headers["if-none-match"] == '"v1"'


def test_304_by_last_modified(feed_server: FeedServer) -> None:
    stamp = "Thu, 26 Nov 2026 07:00:00 GMT"
    feed_server.routes["/feed"] = Route(body=FEED, last_modified=stamp)
    first = fetch(feed_server.url("/feed"), local=True, limits=LIMITS)
    assert first.last_modified == stamp
    again = fetch(feed_server.url("/feed"), local=True, limits=LIMITS, last_modified=stamp)
    assert again.not_modified
    assert feed_server.hits_for("/feed")[1].headers["if-modified-since"] == stamp


def test_gzip_is_requested_and_decoded(feed_server: FeedServer) -> None:
    feed_server.routes["/gz"] = Route(body=FEED, gzip=True)
    result = fetch(feed_server.url("/gz"), local=True, limits=LIMITS)
    assert result.content == FEED
    assert "gzip" in feed_server.hits_for("/gz")[0].headers["accept-encoding"]


def test_gzip_bomb_is_capped_after_decoding(feed_server: FeedServer) -> None:
    feed_server.routes["/bomb"] = Route(body=b"\0" * 5_000_000, gzip=True)  # ~5 KB on the wire
    with pytest.raises(FetchError, match="body over 1000000 bytes"):
        fetch(feed_server.url("/bomb"), local=True, limits=LIMITS)


def test_redirects_are_followed_and_capped(feed_server: FeedServer) -> None:
    feed_server.routes["/a"] = Route(status=301, location="/b")
    feed_server.routes["/b"] = Route(status=302, location=feed_server.url("/feed"))
    feed_server.routes["/feed"] = Route(body=FEED)
    result = fetch(feed_server.url("/a"), local=True, limits=LIMITS)
    assert result.url == feed_server.url("/feed") and result.content == FEED
    for n in range(10):
        feed_server.routes[f"/loop{n}"] = Route(status=307, location=f"/loop{n + 1}")
    with pytest.raises(FetchError, match="more than 3 redirects"):
        fetch(feed_server.url("/loop0"), local=True, limits=LIMITS)


def test_redirect_to_another_scheme_is_refused(feed_server: FeedServer) -> None:
    feed_server.routes["/f"] = Route(status=302, location="file:///etc/passwd")
    with pytest.raises(FetchError, match="only http"):
        fetch(feed_server.url("/f"), local=True, limits=LIMITS)


@pytest.mark.parametrize("status", [500, 503, 404, 403])
def test_http_errors_are_named(feed_server: FeedServer, status: int) -> None:
    feed_server.routes["/err"] = Route(status=status, body=b"nope")
    with pytest.raises(FetchError) as info:
        fetch(feed_server.url("/err"), local=True, limits=LIMITS)
    assert str(info.value) == f"HTTP {status} from {feed_server.url('/err')}"


def test_slow_server_times_out(feed_server: FeedServer) -> None:
    feed_server.routes["/slow"] = Route(body=FEED, delay=1.5)
    with pytest.raises(FetchError, match=r"timed out after 0.5 s"):
        fetch(feed_server.url("/slow"), local=True, limits=FetchLimits(timeout=0.5))


def test_body_size_cap_on_a_20_mb_body(feed_server: FeedServer) -> None:
    big = b"<rss>" + b"x" * (20 * 1024 * 1024) + b"</rss>"
    feed_server.routes["/big"] = Route(body=big)
    with pytest.raises(FetchError, match="body over 1000000 bytes"):
        fetch(feed_server.url("/big"), local=True, limits=LIMITS)


def test_connection_refused_is_readable() -> None:
    with pytest.raises(FetchError, match=r"cannot fetch http://127\.0\.0\.1:9/"):
        fetch("http://127.0.0.1:9/", local=True, limits=LIMITS)


# ------------------------------------------------------------------ address guard
@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("::1", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("::ffff:127.0.0.1", False),
        ("224.0.0.1", False),
        ("93.184.216.34", True),
        ("2606:4700:4700::1111", True),
    ],
)
def test_public_address_classification(address: str, public: bool) -> None:
    assert is_public_address(address) is public


def test_guard_refuses_loopback_unless_local(feed_server: FeedServer) -> None:
    feed_server.routes["/feed"] = Route(body=FEED)
    with pytest.raises(FetchError, match=r"refused 127.0.0.1 -> 127.0.0.1: not a public address"):
        fetch(feed_server.url("/feed"), local=False, limits=LIMITS)
    assert feed_server.hits_for("/feed") == []  # refused before connecting
    assert fetch(feed_server.url("/feed"), local=True, limits=LIMITS).content == FEED


def test_guard_applies_after_dns_resolution(feed_server: FeedServer) -> None:
    # "localhost" is a name, not an address: the guard checks what it resolves to
    with pytest.raises(FetchError, match="refused localhost"):
        fetch(f"http://localhost:{feed_server.port}/feed", local=False, limits=LIMITS)


@pytest.mark.parametrize(
    "target",
    ["http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/", "http://[::1]:{port}/feed"],
)
def test_guard_applies_after_every_redirect(feed_server: FeedServer, target: str) -> None:
    target = target.format(port=feed_server.port)
    feed_server.routes["/feed"] = Route(body=FEED)
    feed_server.routes["/hop"] = Route(status=302, location=target)
    with make_client(local=False, timeout=2.0, allowed=only("127.0.0.1")) as client:
        # the allowed address itself works (it plays a public server here)...
        ok = fetch(feed_server.url("/feed"), local=False, limits=LIMITS, client=client)
        assert ok.content == FEED
        # ...but a redirect to a private or link-local address is refused
        with pytest.raises(FetchError, match="not a public address"):
            fetch(feed_server.url("/hop"), local=False, limits=LIMITS, client=client)


# ------------------------------------------------------------------ file://
def test_file_urls_only_for_local_sources(tmp_path: Path) -> None:
    path = tmp_path / "feed.xml"
    path.write_bytes(FEED)
    with pytest.raises(FetchError, match="only for local sources"):
        fetch(path.as_uri(), local=False, limits=LIMITS)
    first = fetch(path.as_uri(), local=True, limits=LIMITS)
    assert first.content == FEED and first.last_modified
    again = fetch(path.as_uri(), local=True, limits=LIMITS, last_modified=first.last_modified)
    assert again.not_modified


def test_file_errors_are_readable(tmp_path: Path) -> None:
    with pytest.raises(FetchError, match="file not found"):
        fetch((tmp_path / "missing.xml").as_uri(), local=True, limits=LIMITS)
    big = tmp_path / "big.xml"
    big.write_bytes(b"x" * 2_000_000)
    with pytest.raises(FetchError, match="body over"):
        fetch(big.as_uri(), local=True, limits=LIMITS)
