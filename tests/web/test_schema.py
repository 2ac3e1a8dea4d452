"""Schemathesis against the published OpenAPI schema: no 5xx, answers conform to it.

Few examples per operation (the point is shape and robustness, not volume), with and without
the admin token, so the 401 paths are exercised as well as the real handlers.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings

from tests.conftest import EXAMPLES
from tests.web.conftest import ADMIN_TOKEN
from web.app import create_app
from worker.settings import Settings


@pytest.fixture
def api_schema(web_settings: Settings, tmp_path: Path) -> schemathesis.BaseSchema:
    # a sources file with one small local feed, so POST /admin/collect does real work quickly
    feeds = tmp_path / "feeds"
    feeds.mkdir()
    shutil.copy(EXAMPLES / "feeds" / "editors-picks.xml", feeds / "picks.xml")
    sources = tmp_path / "sources.toml"
    sources.write_text(
        '[[source]]\nname = "Picks"\nurl = "feeds/picks.xml"\nkind = "editors-picks"\n'
        'language = "en"\nlocal = true\n',
        encoding="utf-8",
    )
    app = create_app(web_settings.model_copy(update={"sources": sources}))
    return schemathesis.openapi.from_asgi("/openapi.json", app)


OPERATIONS = [
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("POST", "/admin/resend"),
    ("POST", "/admin/collect"),
    ("GET", "/admin/digests/{day}/status"),
    ("POST", "/admin/digests/{day}/send"),
    ("POST", "/admin/digests/{day}/{action}"),
    ("GET", "/admin/sources"),
    ("GET", "/admin/audio"),
    ("GET", "/admin/listens"),
]


def test_schema_lists_every_operation(api_schema: schemathesis.BaseSchema) -> None:
    found = {(op.ok().method.upper(), op.ok().path) for op in api_schema.get_all_operations()}
    assert found == set(OPERATIONS)


# schemathesis' own pytest fixture loader breaks on pytest 9 (node._nodeid), so each operation's
# strategy is driven with hypothesis directly; the checks are schemathesis' own.
@pytest.mark.parametrize(("method", "path"), OPERATIONS)
@pytest.mark.parametrize("token", [True, False], ids=["token", "no-token"])
def test_api_conforms(
    api_schema: schemathesis.BaseSchema, method: str, path: str, token: bool
) -> None:
    operation = api_schema[path][method]
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"} if token else None

    @given(case=operation.as_strategy())
    @hsettings(
        max_examples=6 if token else 2,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def run(case: schemathesis.Case) -> None:
        response = case.call_and_validate(headers=headers)
        if path.startswith("/admin/") and not token:
            assert response.status_code in (401, 422)

    run()


@pytest.mark.parametrize(
    ("method", "path"), [("POST", "/admin/resend"), ("GET", "/admin/digests/{day}/status")]
)
def test_api_rejects_invalid_input(
    api_schema: schemathesis.BaseSchema, method: str, path: str
) -> None:
    """Schema-violating requests (wrong types, missing fields) get a 4xx, never a 5xx."""
    from schemathesis import GenerationMode

    operation = api_schema[path][method]
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    @given(case=operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))
    @hsettings(
        max_examples=10,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def run(case: schemathesis.Case) -> None:
        response = case.call(headers=headers)
        assert 400 <= response.status_code < 500, (response.status_code, response.text)

    run()


# Unicode digits, huge numbers and odd dates where the API takes a date: in the path of the
# status route and in the body of a resend. Schemathesis' own generators keep to the schema's
# `format: date`; these are what an attacker sends instead.
@pytest.mark.parametrize("token", [True, False], ids=["token", "no-token"])
def test_odd_dates_and_numbers_in_the_api(api_schema: schemathesis.BaseSchema, token: bool) -> None:
    from hypothesis import strategies as st

    from tests.web.test_fuzz import HUGE_NUMBERS, ODD_DATES, UNICODE_DIGITS

    odd = st.one_of(ODD_DATES, UNICODE_DIGITS, HUGE_NUMBERS)
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"} if token else None
    status = api_schema["/admin/digests/{day}/status"]["GET"]
    resend = api_schema["/admin/resend"]["POST"]

    @given(value=odd, number=HUGE_NUMBERS)
    @hsettings(
        max_examples=30,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def run(value: str, number: str) -> None:
        r = status.Case(path_parameters={"day": value}).call(headers=headers)
        assert r.status_code in (401, 404, 422), (value, r.status_code)
        body = {"date": value, "to": "reader@example.org", "dry_run": True}
        r = resend.Case(body=body, media_type="application/json").call(headers=headers)
        assert r.status_code in (401, 404, 409, 422), (value, r.status_code, r.text[:200])
        r = resend.Case(body={"date": number, "all": True}, media_type="application/json").call(
            headers=headers
        )
        assert r.status_code < 500, (number, r.status_code)
        for name in ("x-content-type-options", "content-security-policy"):
            assert name in r.headers

    run()
