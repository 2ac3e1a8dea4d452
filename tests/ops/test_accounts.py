"""Ops accounts: Argon2 hashes, set-password links used once, lockouts, idle sessions."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from tests.conftest import make_settings
from worker import db
from worker.models import utcnow
from worker.ops import accounts
from worker.ops.models import OpsIpFailures, Role, allows
from worker.settings import Settings

PASSWORD = "correct horse battery staple"


def test_roles_nest() -> None:
    assert allows("admin", Role.operator) and allows("operator", Role.editor)
    assert not allows("viewer", Role.editor) and not allows("editor", Role.operator)
    assert not allows("root", Role.viewer)


def test_add_hashes_with_argon2_and_refuses_short_or_duplicate(session: Session) -> None:
    user = accounts.add(session, "Ops@Example.org", "operator", PASSWORD)
    assert user.email == "ops@example.org"
    assert user.password_hash is not None and user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash
    with pytest.raises(accounts.AccountError, match="already has an account"):
        accounts.add(session, "ops@example.org", "viewer", PASSWORD)
    with pytest.raises(accounts.AccountError, match="12 characters"):
        accounts.add(session, "b@example.org", "viewer", "short")
    with pytest.raises(accounts.AccountError, match="role must be one of"):
        accounts.add(session, "c@example.org", "root", PASSWORD)


def test_setup_link_works_once(session: Session, settings: Settings) -> None:
    user = accounts.add(session, "new@example.org", "viewer")
    assert user.password_hash is None
    token = accounts.setup_link(settings, user).rsplit("/", 1)[1]
    assert accounts.setup_user(session, settings, token) is user
    accounts.set_password(session, user, PASSWORD)
    assert accounts.setup_user(session, settings, token) is None  # used
    assert accounts.setup_user(session, settings, token[:-2] + "xx") is None


def test_five_wrong_passwords_lock_the_account_even_for_the_right_one(
    session: Session, settings: Settings
) -> None:
    accounts.add(session, "ops@example.org", "operator", PASSWORD)
    now = utcnow()
    for n in range(4):
        result = accounts.login(session, settings, "ops@example.org", "nope", f"10.0.0.{n}", now)
        assert result.user is None and result.error == accounts.WRONG
    fifth = accounts.login(session, settings, "ops@example.org", "nope", "10.0.0.9", now)
    assert "Too many wrong passwords" in fifth.error
    locked = accounts.login(session, settings, "ops@example.org", PASSWORD, "10.0.1.1", now)
    assert locked.user is None and "Too many" in locked.error
    later = now + timedelta(minutes=settings.ops_lockout_minutes, seconds=1)
    assert accounts.login(session, settings, "ops@example.org", PASSWORD, "10.0.1.1", later).user


def test_five_failures_from_one_address_lock_that_address(
    session: Session, settings: Settings
) -> None:
    accounts.add(session, "ops@example.org", "operator", PASSWORD)
    now = utcnow()
    for n in range(5):  # five different accounts (four unknown), one address
        accounts.login(session, settings, f"x{n}@example.org", "nope", "192.0.2.7", now)
    blocked = accounts.login(session, settings, "ops@example.org", PASSWORD, "192.0.2.7", now)
    assert blocked.user is None and "Too many" in blocked.error
    assert accounts.login(session, settings, "ops@example.org", PASSWORD, "192.0.2.8", now).user


def test_session_ends_after_idle_timeout_and_on_logout(
    session: Session, settings: Settings
) -> None:
    accounts.add(session, "ops@example.org", "operator", PASSWORD)
    now = utcnow()
    token = accounts.login(session, settings, "ops@example.org", PASSWORD, "127.0.0.1", now).token
    assert token is not None
    assert accounts.current(session, settings, token, now + timedelta(minutes=5)) is not None
    idle = timedelta(minutes=settings.ops_session_idle_minutes + 6)
    assert accounts.current(session, settings, token, now + idle) is None
    token = accounts.login(session, settings, "ops@example.org", PASSWORD, "127.0.0.1", now).token
    accounts.logout(session, token)
    assert accounts.current(session, settings, token, now) is None


def test_reset_ends_sessions_and_lifts_the_lock(session: Session, settings: Settings) -> None:
    accounts.add(session, "ops@example.org", "operator", PASSWORD)
    now = utcnow()
    token = accounts.login(session, settings, "ops@example.org", PASSWORD, "127.0.0.1", now).token
    user = accounts.reset(session, "ops@example.org", PASSWORD + "!", role="admin")
    assert user.role == "admin" and accounts.current(session, settings, token, now) is None
    assert (
        accounts.remove(session, "ops@example.org")
        and accounts.get(session, "ops@example.org") is None
    )


def test_first_failures_from_one_address_at_once_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    """Two first wrong passwords from a new address at the same moment: both count, no error."""
    settings = make_settings(tmp_path, database_url=pg_url)
    db.upgrade(settings)
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def attempt(n: int) -> None:
        try:
            start.wait(5)
            with db.session_scope(settings) as session:
                accounts.login(
                    session, settings, f"x{n}@example.org", "nope", "198.51.100.4", utcnow()
                )
        except BaseException as exc:  # the assertion below names it
            errors.append(exc)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    with db.session_scope(settings) as session:
        row = session.get(OpsIpFailures, "198.51.100.4")
        assert row is not None and row.failures == 4
