"""`digestcast inbox ...`: the mailbox bounces, complaints and unsubscribe requests reach."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from worker.cli_common import console, err
from worker.cli_common import load_settings as _settings

inbox_app = typer.Typer(
    help="The mailbox mail comes back to: bounces, complaints, unsubscribe requests.",
    no_args_is_help=True,
)


def _report(lines: list[str]) -> None:
    for line in lines[:20]:
        err.print(f"  refused {line}", highlight=False, markup=False)
    if len(lines) > 20:
        err.print(f"  ... and {len(lines) - 20} more")


@inbox_app.command("import")
def inbox_import(
    path: Annotated[
        Path, typer.Argument(help="A Maildir, an mbox, a folder of messages or one message.")
    ],
) -> None:
    """Sort each message into complaint, bounce, unsubscribe request or other and act on it;
    reading the same mailbox again changes nothing."""
    from worker.inbox.intake import import_path
    from worker.inbox.mailboxes import MailboxError

    settings = _settings()
    try:
        summary = import_path(settings, path)
    except MailboxError as exc:
        err.print(str(exc))
        raise typer.Exit(2) from None
    console.print(summary.line(), highlight=False, markup=False)
    _report(summary.problems)


@inbox_app.command("fetch")
def inbox_fetch() -> None:
    """Fetch the IMAP mailbox of INBOX_IMAP_URL, act on each new message and flag it handled
    (the beat runs this every INBOX_FETCH_EVERY_MINUTES when INBOX_IMAP_URL is set)."""
    import imaplib

    from worker.inbox.imap import ImapError
    from worker.inbox.intake import fetch

    settings = _settings()
    if settings.inbox_imap_url is None:
        err.print("[red]set DIGESTCAST_INBOX_IMAP_URL=imaps://user:password@host/INBOX first[/red]")
        raise typer.Exit(2)
    try:
        summary = fetch(settings)
    except (ImapError, imaplib.IMAP4.error, OSError) as exc:
        err.print(f"[red]inbox fetch failed: {exc}[/red]")
        raise typer.Exit(1) from None
    console.print(summary.line(), highlight=False, markup=False)
    _report(summary.problems)
