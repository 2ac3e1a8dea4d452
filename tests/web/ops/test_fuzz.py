"""No request to the console answers 500: random forms (with a valid CSRF token and an admin
session, so they get past the checks) posted to every action, random paths and queries."""

from __future__ import annotations

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.web.ops.conftest import sign_in

POSTS = [
    "/ops/editions/{day}/{action}",
    "/ops/editions/{day}/resend",
    "/ops/editions/{day}/test-send",
    "/ops/editions/{day}/edit",
    "/ops/subscribers/{n}/resend",
    "/ops/subscribers/{n}/unsuppress",
    "/ops/subscribers/{n}/wipe",
    "/ops/sources/{n}/{action}",
    "/ops/articles/{n}/respeak",
    "/ops/set-password/{action}",
    "/ops/login",
]
GETS = [
    "/ops/",
    "/ops/subscribers",
    "/ops/audit",
    "/ops/sources",
    "/ops/editions/{day}",
    "/ops/editions/{day}/live.json",
    "/ops/editions/{day}/preview",
    "/ops/editions/{day}/email.html",
    "/ops/editions/{day}/edit",
    "/ops/editions/{day}/resend",
    "/ops/editions/{day}/{action}",
    "/ops/subscribers/{n}",
    "/ops/subscribers/{n}/export.json",
    "/ops/set-password/{action}",
    "/ops/static/{action}",
    "/ops/login",
]
FIELDS = ["reason", "mode", "to", "step", "day", "lead", "subject", "preheader", "confirm",
          "pos-1", "drop-1", "dropitem-1", "email", "password", "next", "x"]  # fmt: skip
SPECIAL = ["", "all", "failed", "to", "send", "1", "-1", "9" * 30, "a@example.org", "\r\n"]
text = st.text(max_size=40) | st.sampled_from(SPECIAL)
days = st.sampled_from(["2026-11-27", "2026-02-30", "9999-12-31", "x", "0"])
actions = st.sampled_from(["start", "pause", "resume", "cancel", "approve", "check", "nope"])


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    path=st.sampled_from(POSTS),
    day=days,
    n=st.integers(min_value=-1, max_value=10**30),
    action=actions,
    form=st.dictionaries(st.sampled_from(FIELDS), text, max_size=6),
)
def test_random_posts_never_500(
    console: TestClient, path: str, day: str, n: int, action: str, form: dict[str, str]
) -> None:
    if "dc_ops" not in console.cookies:
        console.token = sign_in(console, "admin@example.org")  # type: ignore[attr-defined]
    url = path.format(day=day, n=n, action=action)
    data = {**form, "csrf_token": console.token}  # type: ignore[attr-defined]
    answer = console.post(url, data=data, follow_redirects=False)
    assert answer.status_code < 500, (url, data, answer.text[:300])


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    path=st.sampled_from(GETS),
    day=days,
    n=st.integers(min_value=-1, max_value=10**30),
    action=actions,
    query=st.dictionaries(st.sampled_from(["q", "day", "actor", "note", "next"]), text, max_size=3),
)
def test_random_pages_never_500(
    console: TestClient, path: str, day: str, n: int, action: str, query: dict[str, str]
) -> None:
    if "dc_ops" not in console.cookies:
        sign_in(console, "admin@example.org")
    url = path.format(day=day, n=n, action=action)
    answer = console.get(url, params=query, follow_redirects=False)
    assert answer.status_code < 500, (url, query, answer.text[:300])
