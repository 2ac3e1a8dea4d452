"""Accounts from the console (admins): add with a one-time link, set the password through
it, reset, remove; other roles are refused."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.web.ops.conftest import csrf, sign_in

NEW = "a new password for the desk"


def test_admin_adds_an_account_that_sets_its_password_once(console: TestClient) -> None:
    token = sign_in(console, "admin@example.org")
    r = console.post(
        "/ops/users", data={"csrf_token": token, "action": "add", "email": "desk@example.org",
                            "role": "viewer"},
    )  # fmt: skip
    found = re.search(r"<code>https://daily\.example\.org(/ops/set-password/[^<]+)</code>", r.text)
    assert r.status_code == 200 and found, r.text[-2000:]
    link = found.group(1)
    audit = console.get("/ops/audit").text
    assert "ops-user-add" in audit and link.rsplit("/", 1)[1] not in audit  # never logged
    # own account cannot be removed; an unknown one says so
    r = console.post(
        "/ops/users",
        data={"csrf_token": token, "action": "remove", "email": "admin@example.org",
              "reason": "tidy"},
    )  # fmt: skip
    assert "you cannot remove your own account" in r.text

    console.cookies.clear()
    page = console.get(link)
    assert page.status_code == 200 and "desk@example.org" in page.text
    r = console.post(
        link,
        data={"csrf_token": csrf(page.text), "password": NEW, "confirm": NEW},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert console.get(link).status_code == 404  # used
    sign_in(console, "desk@example.org", NEW)
    assert "desk@example.org (viewer)" in console.get("/ops/").text
    assert console.get("/ops/users").status_code == 403

    console.cookies.clear()
    token = sign_in(console, "operator@example.org")
    r = console.post(
        "/ops/users", data={"csrf_token": token, "action": "add", "email": "x@example.org",
                            "role": "admin"},
    )  # fmt: skip
    assert r.status_code == 403
