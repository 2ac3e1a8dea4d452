"""`digestcast ops-user ...`: the ops console's accounts (the pages themselves are web/ops/)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from worker import db
from worker.cli_common import console, err
from worker.cli_common import load_settings as _settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from worker.ops.models import OpsUser

ops_user_app = typer.Typer(help="Accounts of the ops console (/ops/).", no_args_is_help=True)

RoleOption = Annotated[
    str, typer.Option("--role", help="viewer | editor | operator | admin (see README).")
]
LinkOption = Annotated[
    bool,
    typer.Option(
        "--link",
        help="Print a one-time set-password link (OPS_SETUP_LINK_HOURS) instead of asking.",
    ),
]
StdinOption = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from the first stdin line.")
]


def _password(link: bool, stdin: bool) -> str | None:
    if link:
        return None
    if stdin:
        return sys.stdin.readline().rstrip("\r\n")
    text: str = typer.prompt("Password (12+ characters)", hide_input=True, confirmation_prompt=True)
    return text


def _by() -> str:
    from worker.edition.lifecycle import operator

    return f"cli:{operator()}"


@ops_user_app.command("add")
def ops_user_add(
    email: str, role: RoleOption = "viewer", link: LinkOption = False, stdin: StdinOption = False
) -> None:
    """Create an account: asks for its password, or prints a one-time set-password link."""
    from worker.ops import accounts

    _change_account(
        _password(link, stdin),
        lambda session, password: accounts.add(session, email, role, password),
        "ops-user-add",
        "{role} account created",
    )


@ops_user_app.command("list")
def ops_user_list() -> None:
    """Every account with its role, last login and whether it is locked."""
    from sqlalchemy import select

    from worker.models import utcnow
    from worker.ops.models import OpsUser

    settings = _settings()
    table = Table("email", "role", "password", "last login", "locked until")
    with db.session_scope(settings) as session:
        users = list(session.scalars(select(OpsUser).order_by(OpsUser.email)))
        now = utcnow()
        for u in users:
            locked = u.locked_until if u.locked_until and u.locked_until > now else None
            table.add_row(
                u.email,
                u.role,
                "set" if u.password_hash else "link pending",
                f"{u.last_login_at:%Y-%m-%d %H:%M} UTC" if u.last_login_at else "never",
                f"{locked:%H:%M} UTC" if locked else "",
            )
    console.print(table)
    console.print(f"{len(users)} accounts", highlight=False)


@ops_user_app.command("remove")
def ops_user_remove(email: str) -> None:
    """Delete an account and end its sessions."""
    from worker.ops import accounts

    settings = _settings()
    with db.session_scope(settings) as session:
        removed = accounts.remove(session, email)
        if removed:
            accounts.audit(session, _by(), "ops-user-remove", email.strip().lower())
    if not removed:
        err.print(f"{email}: no such account", highlight=False, markup=False)
        raise typer.Exit(1)
    console.print(f"{email}: removed, its sessions ended", highlight=False, markup=False)


@ops_user_app.command("reset")
def ops_user_reset(
    email: str,
    role: Annotated[str | None, typer.Option("--role", help="Also change the role.")] = None,
    link: LinkOption = False,
    stdin: StdinOption = False,
) -> None:
    """A new password (or link), the lockout lifted, every session of the account ended."""
    from worker.ops import accounts

    _change_account(
        _password(link, stdin),
        lambda session, password: accounts.reset(session, email, password, role),
        "ops-user-reset",
        "{role}, password reset, sessions ended, unlocked",
    )


def _change_account(
    password: str | None,
    change: Callable[[Session, str | None], OpsUser],
    action: str,
    done: str,
) -> None:
    """Create or reset an account, audit it, and print what happened (with the one-time
    set-password link when no password was given)."""
    from worker.ops import accounts

    settings = _settings()
    try:
        with db.session_scope(settings) as session:
            user = change(session, password)
            accounts.audit(session, _by(), action, user.email, detail={"role": user.role})
            url = accounts.setup_link(settings, user) if password is None else None
            line = f"{user.email}: " + done.format(role=user.role)
    except accounts.AccountError as exc:
        err.print(f"[red]{exc}[/red]", highlight=False)
        raise typer.Exit(1) from None
    console.print(line, highlight=False, markup=False)
    if url:
        console.print(
            f"set-password link (once, {settings.ops_setup_link_hours} h): {url}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
