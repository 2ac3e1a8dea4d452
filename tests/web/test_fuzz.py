"""The HTML and media routes (not in the OpenAPI schema) never answer 5xx to odd paths, odd
numbers, odd dates or odd Range headers, and every answer carries the security headers."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from web.media import Unsatisfiable, parse_range
from worker.storage import LocalStorage

ROUTES = [
    "/media/{}",
    "/u/{}",
    "/preferences/{}",
    "/confirm/{}",
    "/listen/{}",
    "/briefing/{}",
    "/digests/{}",
    "/archive/{}",
]
# digits that are not ASCII: str.isdigit() says yes to all of them, int() to some
UNICODE_DIGITS = st.text(st.characters(categories=["Nd", "No"]), min_size=1, max_size=25)
HUGE_NUMBERS = st.one_of(
    st.integers(2**63 - 2, 10**40).map(str),
    st.integers(1, 6000).map(lambda n: "9" * n),  # past int()'s 4300-digit limit too
    st.integers(-(10**30), -1).map(str),
)
ODD_DATES = st.one_of(
    st.builds(
        "{:04d}-{:02d}-{:02d}".format,
        st.integers(0, 99999),
        st.integers(0, 99),
        st.integers(0, 99),
    ),
    st.dates().map(lambda d: d.strftime("%Y%m%d")),  # the basic format
    st.dates().map(lambda d: d.isoformat().replace("1", "١").replace("2", "２")),
    st.dates().map(lambda d: d.isoformat() + "T00:00"),
    st.builds("{}-W{:02d}-{}".format, st.integers(1, 9999), st.integers(0, 60), st.integers(0, 9)),
)
SEGMENT = st.one_of(
    st.text(min_size=1, max_size=40),
    UNICODE_DIGITS,
    HUGE_NUMBERS,
    ODD_DATES,
    st.sampled_from(["..", "../..", "%2e%2e%2f", "..%2f", "\\x00", "a/../../b", "//", "-1"]),
)
SECURITY_HEADERS = ("x-content-type-options", "content-security-policy", "x-frame-options")
HYPOTHESIS = {
    "deadline": None,
    "derandomize": True,
    "database": None,
    "suppress_health_check": list(HealthCheck),
}


@pytest.mark.parametrize("route", ROUTES)
def test_odd_paths_never_5xx(client: TestClient, route: str) -> None:
    @given(segment=SEGMENT, method=st.sampled_from(["GET", "HEAD", "POST"]))
    @settings(max_examples=40, **HYPOTHESIS)  # type: ignore[arg-type]
    def run(segment: str, method: str) -> None:
        path = route.format(quote(segment, safe="/%"))
        if method == "POST":
            r = client.post(path, data={"List-Unsubscribe": "One-Click"})
        else:
            r = client.request(method, path, follow_redirects=False)
        assert r.status_code < 500, (method, path, r.status_code)
        for name in SECURITY_HEADERS:
            assert name in r.headers, (method, path, name)

    run()


# ---------------------------------------------------------------- Range
KEY = "articles/2026/11/27/sample/audio.mp3"
NUMBER = st.one_of(
    st.integers(0, 5000).map(str),
    HUGE_NUMBERS,
    UNICODE_DIGITS,
    st.sampled_from(["", " ", "0x10", "1e3", "+5", "1_0", "٣"]),
)
RANGE = st.one_of(
    st.builds(
        "{}={}{}{}".format,
        st.sampled_from(["bytes", "BYTES", " bytes ", "items", ""]),
        NUMBER,
        st.sampled_from(["-", "--", "", " - "]),
        NUMBER,
    ),
    st.lists(st.builds("{}-{}".format, NUMBER, NUMBER), min_size=2, max_size=4).map(
        lambda parts: "bytes=" + ",".join(parts)
    ),
    st.text(max_size=60),
)


def _wire(value: str) -> bytes:
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8")


@pytest.fixture
def mp3_key(storage: LocalStorage, mp3_bytes: bytes) -> str:
    storage.write_bytes(KEY, mp3_bytes)
    return KEY


def test_range_header_fuzz(client: TestClient, mp3_key: str, mp3_bytes: bytes) -> None:
    size = len(mp3_bytes)

    @given(header=RANGE, if_range=st.one_of(st.none(), st.text(max_size=40)))
    @settings(max_examples=150, **HYPOTHESIS)  # type: ignore[arg-type]
    def run(header: str, if_range: str | None) -> None:
        headers = {"Range": _wire(header)}
        if if_range is not None:
            headers["If-Range"] = _wire(if_range)
        r = client.get(f"/media/{mp3_key}", headers=headers)
        assert r.status_code in (200, 206, 416), (header, if_range, r.status_code)
        for name in SECURITY_HEADERS:
            assert name in r.headers
        if r.status_code == 200:
            assert r.content == mp3_bytes
        elif r.status_code == 416:
            assert r.headers["content-range"] == f"bytes */{size}"
        else:
            first, last = parse_range(_wire(header).decode("latin-1"), size) or (0, size - 1)
            assert r.headers["content-range"] == f"bytes {first}-{last}/{size}"
            assert r.content == mp3_bytes[first : last + 1]

    run()


@given(header=RANGE, size=st.integers(0, 10**12))
@settings(max_examples=300, **HYPOTHESIS)  # type: ignore[arg-type]
def test_parse_range_stays_inside_the_file(header: str, size: int) -> None:
    try:
        found = parse_range(header, size)
    except Unsatisfiable:
        return
    if found is not None:
        first, last = found
        assert 0 <= first <= last < size
