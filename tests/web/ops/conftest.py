"""Console fixtures: the sample day (collected, subscribers imported) behind the real app,
and accounts of every role."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import make_settings
from tests.scheduler.conftest import day_settings, sample_day_template
from web.app import create_app
from worker import db
from worker.celery_app import configure
from worker.ops import accounts
from worker.settings import Settings

__all__ = ["day_settings", "sample_day_template"]
PASSWORD = "correct horse battery staple"
ROLES = ("viewer", "editor", "operator", "admin")


def add_accounts(settings: Settings) -> None:
    with db.session_scope(settings) as session:
        for role in ROLES:
            accounts.add(session, f"{role}@example.org", role, PASSWORD)


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def sign_in(client: TestClient, email: str, password: str = PASSWORD) -> str:
    """Log in through the form; returns a CSRF token for the next POSTs."""
    token = csrf(client.get("/ops/login").text)
    r = client.post(
        "/ops/login",
        data={"email": email, "password": password, "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return token


@pytest.fixture
def console_settings(day_settings: Settings) -> Settings:
    add_accounts(day_settings)
    return day_settings


@pytest.fixture
def console(console_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(console_settings), base_url="https://daily.example.org") as c:
        yield c


@pytest.fixture(scope="session")
def accounts_sqlite(tmp_path_factory: pytest.TempPathFactory, migrated_sqlite: Path) -> Path:
    """The migrated database with an account of every role, hashed once a session (Argon2
    costs ~0.1 s an account)."""
    root = tmp_path_factory.mktemp("ops-accounts")
    shutil.copyfile(migrated_sqlite, root / "digestcast.db")
    s = make_settings(root)
    add_accounts(s)
    db.get_engine(s.database_url).dispose()
    return root / "digestcast.db"


@pytest.fixture
def bare_console_settings(tmp_path: Path, accounts_sqlite: Path) -> Iterator[Settings]:
    """No sample day: the accounts only, for tests that make the rows they look at."""
    shutil.copyfile(accounts_sqlite, tmp_path / "digestcast.db")
    s = make_settings(tmp_path)
    configure(s)
    yield s
    db.get_engine(s.database_url).dispose()


@pytest.fixture
def bare_console(bare_console_settings: Settings) -> Iterator[TestClient]:
    app = create_app(bare_console_settings)
    with TestClient(app, base_url="https://daily.example.org") as c:
        yield c
