"""The ops console's tables: accounts, their sessions, per-IP login failures, the audit log.

worker/schema.py gathers them with the other tables for the migrations.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from worker.models.base import Base, utcnow


class Role(enum.StrEnum):
    """Each role may do what the ones before it may, and more."""

    viewer = "viewer"  # sees everything, changes nothing
    editor = "editor"  # also edits and approves editions before they go out
    operator = "operator"  # also pauses, resumes, cancels, sends, resends, test-sends
    admin = "admin"  # also manages accounts, unsuppresses and wipes subscribers


RANK = {role: n for n, role in enumerate(Role)}


def allows(role: str, needed: Role) -> bool:
    try:
        return RANK[Role(role)] >= RANK[needed]
    except ValueError:
        return False


class OpsUser(Base):
    __tablename__ = "ops_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str | None] = mapped_column(Text)  # None: not set yet (link sent)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]
    # the one-time set-password link names this nonce; using it (or a reset) replaces it
    setup_nonce: Mapped[str | None] = mapped_column(String(32))


class OpsSession(Base):
    """A signed-in browser: the cookie holds a random token, we keep only its SHA-256."""

    __tablename__ = "ops_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("ops_users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class OpsIpFailures(Base):
    """Wrong passwords from one address, whatever account they tried (per-IP lockout)."""

    __tablename__ = "ops_ip_failures"

    ip: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_at: Mapped[datetime] = mapped_column(default=utcnow)
    locked_until: Mapped[datetime | None]


class OpsAudit(Base):
    """Every console action and account change: who, what, on what, why, and how it went.
    The edition's own transitions are also in edition_events (the lifecycle writes those)."""

    __tablename__ = "ops_audit"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(320), index=True)
    action: Mapped[str] = mapped_column(String(40))
    target: Mapped[str] = mapped_column(String(320), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    ok: Mapped[bool] = mapped_column(Boolean, default=True)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
