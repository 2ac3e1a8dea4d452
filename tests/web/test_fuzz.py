"""The HTML and media routes (not in the OpenAPI schema) never answer 5xx to odd paths."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
SEGMENT = st.one_of(
    st.text(min_size=1, max_size=40),
    st.sampled_from(["..", "../..", "%2e%2e%2f", "..%2f", "\\x00", "a/../../b", "//", "-1"]),
)


@pytest.mark.parametrize("route", ROUTES)
def test_odd_paths_never_5xx(client: TestClient, route: str) -> None:
    @given(segment=SEGMENT, post=st.booleans())
    @settings(
        max_examples=25,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(segment: str, post: bool) -> None:
        path = route.format(quote(segment, safe="/%"))
        r = client.post(path, data={"List-Unsubscribe": "One-Click"}) if post else client.get(path)
        assert r.status_code < 500, (path, r.status_code)

    run()
