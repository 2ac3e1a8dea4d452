"""web/protocol.py: HEAD for every GET, the trailing-slash twin redirect, tokens out of logs."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from web.protocol import ACCESS_LOGGER, RedactTokens, redact_access_log, redact_path


def test_head_answers_as_the_get_without_a_body(client: TestClient) -> None:
    get = client.get("/digests/")
    head = client.head("/digests/")
    assert get.status_code == head.status_code == 200
    assert get.content and head.content == b""
    assert head.headers["content-length"] == get.headers["content-length"]


def test_head_of_an_unknown_path_is_still_404(client: TestClient) -> None:
    assert client.head("/no-such-page").status_code == 404


def test_missing_slash_redirects_to_the_public_base_url_keeping_the_query(
    client: TestClient,
) -> None:
    r = client.get("/digests?page=2", follow_redirects=False)
    assert r.status_code == 308
    assert r.headers["location"] == "https://daily.example.org/digests/?page=2"
    r = client.head("/subscribe/", follow_redirects=False)
    assert r.status_code == 308
    assert r.headers["location"] == "https://daily.example.org/subscribe"


def test_a_path_without_a_twin_stays_404(client: TestClient) -> None:
    r = client.get("/nothing-here/", follow_redirects=False)
    assert r.status_code == 404 and "location" not in r.headers
    assert client.post("/digests", follow_redirects=False).status_code in (404, 405)


@pytest.mark.parametrize(
    ("path", "logged"),
    [
        ("/ops/set-password/abc.def", "/ops/set-password/[token]"),
        ("/u/t?one-click=1", "/u/[token]?[query]"),
        ("/listen/5", "/listen/5"),
        ("/?", "/?[query]"),
    ],
)
def test_redact_path(path: str, logged: str) -> None:
    assert redact_path(path) == logged


def test_redact_filter_leaves_other_records_alone() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "plain %s", ("text",), None)
    assert RedactTokens().filter(record)
    assert record.args == ("text",)


def test_redact_access_log_installs_the_filter_once() -> None:
    logger = logging.getLogger(ACCESS_LOGGER)
    before = [f for f in logger.filters if isinstance(f, RedactTokens)]
    try:
        redact_access_log()
        redact_access_log()
        assert len([f for f in logger.filters if isinstance(f, RedactTokens)]) == 1
    finally:
        for f in [f for f in logger.filters if isinstance(f, RedactTokens)]:
            if f not in before:
                logger.removeFilter(f)
