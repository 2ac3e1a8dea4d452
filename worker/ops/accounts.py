"""Ops accounts: Argon2id password hashes, one-time set-password links, login with per-account
and per-IP lockout, server-side sessions with an idle timeout, and the audit log.

Everything takes the session, the settings and `now` as parameters; the web pages and the
`digestcast ops-user` commands are the edges.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from worker.delivery.subscribers import InvalidAddress, validate_address
from worker.models import utcnow
from worker.ops.models import OpsAudit, OpsIpFailures, OpsSession, OpsUser, Role
from worker.settings import Settings
from worker.tokens import secret_keys

SETUP_SALT = "digestcast.ops.setup.v1"
MIN_PASSWORD = 12
MAX_PASSWORD = 1024  # Argon2 hashes anything; a megabyte "password" only burns CPU
_hasher = PasswordHasher()  # argon2-cffi's defaults: Argon2id, RFC 9106 low-memory profile
# a real hash of nothing: an unknown account costs as much time as a wrong password
_DUMMY = _hasher.hash(secrets.token_urlsafe(16))


class AccountError(ValueError):
    """A one-line reason the command or the page shows as it is."""


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"a password needs at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"a password has at most {MAX_PASSWORD} characters")
    return _hasher.hash(password)


def _verify(hashed: str | None, password: str) -> bool:
    try:
        return _hasher.verify(hashed or _DUMMY, password[:MAX_PASSWORD]) and hashed is not None
    except (VerificationError, InvalidHashError):
        return False


def _email(text: str) -> str:
    try:
        return validate_address(text).email
    except InvalidAddress as exc:
        raise AccountError(f"{text!r}: {exc}") from None


def get(session: Session, email: str) -> OpsUser | None:
    try:
        address = validate_address(email).email
    except InvalidAddress:
        return None
    return session.scalar(select(OpsUser).where(OpsUser.email == address))


def add(session: Session, email: str, role: str, password: str | None = None) -> OpsUser:
    address = _email(email)
    try:
        Role(role)
    except ValueError:
        raise AccountError(f"role must be one of {', '.join(Role)}") from None
    if get(session, address) is not None:
        raise AccountError(f"{address} already has an account (ops-user reset to change it)")
    user = OpsUser(email=address, role=role, failed_logins=0)
    if password is not None:
        user.password_hash = hash_password(password)
    else:
        user.setup_nonce = secrets.token_hex(16)
    session.add(user)
    session.flush()
    return user


def remove(session: Session, email: str) -> bool:
    user = get(session, email)
    if user is None:
        return False
    session.execute(delete(OpsSession).where(OpsSession.user_id == user.id))
    session.delete(user)
    session.flush()
    return True


def reset(
    session: Session, email: str, password: str | None = None, role: str | None = None
) -> OpsUser:
    """A new password (or a new set-password link), the lock lifted, every session ended."""
    user = get(session, email)
    if user is None:
        raise AccountError(f"{email}: no such account")
    if role is not None:
        try:
            user.role = Role(role)
        except ValueError:
            raise AccountError(f"role must be one of {', '.join(Role)}") from None
    user.password_hash = hash_password(password) if password is not None else None
    user.setup_nonce = None if password is not None else secrets.token_hex(16)
    user.failed_logins, user.locked_until = 0, None
    session.execute(delete(OpsSession).where(OpsSession.user_id == user.id))
    session.flush()
    return user


# ---------------------------------------------------------------- set-password links
def _links(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_keys(settings), salt=SETUP_SALT)


def setup_link(settings: Settings, user: OpsUser) -> str:
    token = _links(settings).dumps([user.id, user.setup_nonce])
    return f"{settings.public_base_url.rstrip('/')}/ops/set-password/{token}"


def setup_user(session: Session, settings: Settings, token: str) -> OpsUser | None:
    """The account a set-password link is for, while it is unused and fresh."""
    try:
        user_id, nonce = _links(settings).loads(token, max_age=settings.ops_setup_link_hours * 3600)
    except (BadSignature, ValueError, TypeError):
        return None
    user = session.get(OpsUser, user_id) if isinstance(user_id, int) else None
    if user is None or not nonce or user.setup_nonce != nonce:
        return None
    return user


def set_password(session: Session, user: OpsUser, password: str) -> None:
    user.password_hash = hash_password(password)
    user.setup_nonce = None  # the link works once
    user.failed_logins, user.locked_until = 0, None
    session.flush()


# ---------------------------------------------------------------- login and sessions
@dataclass(frozen=True)
class Login:
    user: OpsUser | None
    token: str | None  # the cookie value of the new session
    error: str = ""


LOCKED = "Too many wrong passwords: try again in {minutes} minutes."
WRONG = "Wrong address or password."


def _ip_row(session: Session, ip: str) -> OpsIpFailures:
    key = ip[:64]
    row = session.get(OpsIpFailures, key, with_for_update=True)
    if row is not None:
        return row
    try:
        with session.begin_nested():  # two first attempts at once: one inserts, one reads
            session.add(OpsIpFailures(ip=key, failures=0, last_at=utcnow()))
    except IntegrityError:
        pass
    row = session.get(OpsIpFailures, key, with_for_update=True, populate_existing=True)
    assert row is not None
    return row


def login(
    session: Session, settings: Settings, email: str, password: str, ip: str, now: datetime
) -> Login:
    """Check a password: the fifth wrong one in a row locks the account and, separately, the
    address it came from, for OPS_LOCKOUT_MINUTES (a lock answers the same for right and wrong
    passwords, so it cannot be used to test them)."""
    limit, lock_for = settings.ops_lockout_failures, timedelta(minutes=settings.ops_lockout_minutes)
    locked = LOCKED.format(minutes=settings.ops_lockout_minutes)
    source = _ip_row(session, ip)
    if source.locked_until is not None and source.locked_until > now:
        return Login(None, None, locked)
    user = get(session, email)
    if user is not None:
        session.refresh(user, with_for_update=True)
        if user.locked_until is not None and user.locked_until > now:
            return Login(None, None, locked)
    if user is None or not _verify(user.password_hash if user else None, password):
        source.failures, source.last_at = source.failures + 1, now
        if source.failures >= limit:
            source.failures, source.locked_until = 0, now + lock_for
        error = WRONG
        if user is not None:
            user.failed_logins += 1
            if user.failed_logins >= limit:
                user.failed_logins, user.locked_until = 0, now + lock_for
                error = locked
                audit(session, user.email, "account-locked", user.email, f"{limit} wrong passwords")
        if source.locked_until is not None and source.locked_until > now:
            error = locked
        session.flush()
        return Login(None, None, error)
    user.failed_logins, user.locked_until, user.last_login_at = 0, None, now
    source.failures = 0
    token = secrets.token_urlsafe(32)
    session.add(OpsSession(id=_digest(token), user_id=user.id, created_at=now, last_seen_at=now))
    session.flush()
    return Login(user, token)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


TOUCH_EVERY = timedelta(seconds=60)  # last_seen_at is written at most once a minute


def current(
    session: Session, settings: Settings, token: str | None, now: datetime, touch: bool = True
) -> OpsUser | None:
    """The signed-in account, or None (no cookie, unknown, or idle past the timeout)."""
    if not token or len(token) > 100:
        return None
    row = session.get(OpsSession, _digest(token))
    if row is None:
        return None
    if now - row.last_seen_at > timedelta(minutes=settings.ops_session_idle_minutes):
        session.delete(row)
        session.flush()
        return None
    if touch and now - row.last_seen_at > TOUCH_EVERY:
        row.last_seen_at = now
    return session.get(OpsUser, row.user_id)


def logout(session: Session, token: str | None) -> None:
    if token:
        session.execute(delete(OpsSession).where(OpsSession.id == _digest(token)))


# ---------------------------------------------------------------- audit
def audit(
    session: Session,
    actor: str,
    action: str,
    target: str = "",
    reason: str = "",
    ok: bool = True,
    detail: dict[str, Any] | None = None,
) -> OpsAudit:
    row = OpsAudit(
        at=utcnow(),
        actor=actor[:320],
        action=action[:40],
        target=target[:320],
        reason=reason,
        ok=ok,
        detail=detail or {},
    )
    session.add(row)
    session.flush()
    return row
