"""web/ops/audit.py: the audit log, newest first, filtered by day (UTC) and by who."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from fastapi.testclient import TestClient

from tests.web.ops.conftest import sign_in


def entries(html: str) -> int:
    found = re.search(r"<caption>(\d+) entries, newest first</caption>", html)
    assert found, "no audit table on the page"
    return int(found.group(1))


def test_the_audit_needs_a_session(bare_console: TestClient) -> None:
    r = bare_console.get("/ops/audit", follow_redirects=False)
    assert r.status_code in (303, 401)


def test_logins_are_listed_and_filtered_by_who(bare_console: TestClient) -> None:
    sign_in(bare_console, "viewer@example.org")
    sign_in(bare_console, "editor@example.org")
    everything = bare_console.get("/ops/audit").text
    assert entries(everything) == 2
    assert "<td>login</td>" in everything
    only_viewer = bare_console.get("/ops/audit", params={"actor": " viewer@example.org "})
    assert entries(only_viewer.text) == 1
    assert "<td>viewer@example.org</td>" in only_viewer.text
    assert entries(bare_console.get("/ops/audit", params={"actor": "nobody"}).text) == 0


def test_the_day_filter_is_utc_and_a_bad_day_is_ignored(bare_console: TestClient) -> None:
    before = datetime.now(UTC).date()
    sign_in(bare_console, "viewer@example.org")
    days = {before, datetime.now(UTC).date()}  # two only if midnight passed in between
    seen = [
        entries(bare_console.get("/ops/audit", params={"day": d.isoformat()}).text) for d in days
    ]
    assert sum(seen) == 1
    assert entries(bare_console.get("/ops/audit", params={"day": "2000-01-01"}).text) == 0
    bad = bare_console.get("/ops/audit", params={"day": "not-a-day"})
    assert bad.status_code == 200 and entries(bad.text) == 1
