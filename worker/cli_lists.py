"""`digestcast subscribers ...` and `digestcast sources ...`: the list and the feeds."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from worker import db
from worker.cli_common import console, err
from worker.cli_common import load_settings as _settings
from worker.settings import Settings

subscribers_app = typer.Typer(help="The subscriber list.", no_args_is_help=True)
sources_app = typer.Typer(help="Feed sources and their health.", no_args_is_help=True)
bounces_app = typer.Typer(
    help="Bounce reports (delivery status notifications).", no_args_is_help=True
)


def _known(settings: Settings, slugs: list[str] | None) -> list[str]:
    """The slugs, each checked against the newsletters table; none given: the first one."""
    from worker import newsletters

    try:
        return [newsletters.get(settings, slug).slug for slug in slugs or [""]]
    except newsletters.NewsletterError as exc:
        err.print(f"[red]{exc}[/red]", highlight=False)
        raise typer.Exit(2) from None


@subscribers_app.command("add")
def subscribers_add(
    email: str,
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    newsletter: Annotated[
        list[str] | None,
        typer.Option("--newsletter", help="A newsletter's slug (repeatable; default: the first)."),
    ] = None,
) -> None:
    """Add (or reactivate) one subscriber, on the given newsletters."""
    from sqlalchemy import select

    from worker.delivery import subscribers
    from worker.models import Suppression

    settings = _settings()
    slugs = _known(settings, newsletter)
    try:
        with db.session_scope(settings) as session:
            before = subscribers.get(session, email)
            was = before.state.value if before is not None else None
            sub = subscribers.add(session, email, name=name, newsletters=slugs)
            why = session.scalar(select(Suppression.reason).where(Suppression.email == sub.email))
            line = f"{sub.email}{f' ({sub.name})' if sub.name else ''}: "
            line += "added" if was is None else f"already on the list (was {was})"
            line += f", {subscribers.standing(sub.state, why)}"
    except subscribers.InvalidAddress as exc:
        err.print(f"[red]{email}: {exc}[/red]")
        raise typer.Exit(1) from None
    console.print(line, highlight=False, markup=False)
    if why is not None:
        err.print(f"  not mailed: {why}", highlight=False, markup=False)


@subscribers_app.command("import")
def subscribers_import(path: Path) -> None:
    """Import a CSV with a header row: email (required), name and newsletters (slugs separated
    by spaces; default: the first newsletter) optional."""
    from worker.delivery import subscriber_csv

    settings = _settings()
    first = _known(settings, None)
    with db.session_scope(settings) as session, path.open(newline="", encoding="utf-8") as handle:
        report = subscriber_csv.import_csv(session, handle, newsletters=first)
    console.print(
        f"imported {path}: {report.added} added, {report.updated} updated, "
        f"{report.unchanged} unchanged, {report.duplicates} duplicate rows, "
        f"{report.suppressed} suppressed, {len(report.errors)} rejected"
    )
    for line, reason in report.errors:
        err.print(f"  line {line}: {reason}")


@subscribers_app.command("list")
def subscribers_list() -> None:
    """List subscribers with their state: active, pending, unsubscribed, or suppressed (a hard
    bounce, a complaint, removed by ops) with the reason."""
    from sqlalchemy import select

    from worker.delivery import subscribers
    from worker.models import Subscriber, Suppression

    settings = _settings()
    table = Table("email", "name", "state", "why not mailed")
    with db.session_scope(settings) as session:
        query = (
            select(Subscriber, Suppression.reason)
            .outerjoin(Suppression, Suppression.email == Subscriber.email)
            .order_by(Subscriber.id)
        )
        for sub, why in session.execute(query):
            state = subscribers.standing(sub.state, why)
            table.add_row(sub.email, sub.name or "", state, why or "")
    console.print(table)


@subscribers_app.command("remove")
def subscribers_remove(
    email: str,
    wipe: Annotated[
        bool, typer.Option("--wipe", help="Erase the person and their delivery history.")
    ] = False,
) -> None:
    """Unsubscribe an address; with --wipe, erase it (a suppression entry is kept either way)."""
    from worker.delivery import subscribers

    settings = _settings()
    with db.session_scope(settings) as session:
        found = subscribers.remove(session, email, wipe=wipe)
    if not found:
        err.print(f"[red]{email} is not on the list[/red]")
        raise typer.Exit(1)
    console.print(f"{email}: {'erased' if wipe else 'unsubscribed'}")


@subscribers_app.command("export")
def subscribers_export(
    email: Annotated[
        str | None, typer.Option("--email", help="One person's full data, as JSON.")
    ] = None,
) -> None:
    """Write the list as CSV to standard output (or one person's data with --email)."""
    import json

    from worker.delivery import subscriber_csv

    settings = _settings()
    with db.session_scope(settings) as session:
        if email is None:
            subscriber_csv.export_csv(session, sys.stdout)
            return
        person = subscriber_csv.export_person(session, email)
    if person is None:
        err.print(f"[red]{email} is not on the list[/red]")
        raise typer.Exit(1)
    sys.stdout.write(json.dumps(person, indent=2, default=str) + "\n")


# ---------------------------------------------------------------- sources
@sources_app.command("list")
def sources_list() -> None:
    """Sources with last success, last error, failure count and skipped entries (with why)."""
    from worker.collect.health import skipped_items, source_health
    from worker.collect.sources import sync_sources

    settings = _settings()
    with db.session_scope(settings) as session:
        sync_sources(session, settings)
        rows = source_health(session)
        skips = skipped_items(session)
    table = Table("name", "kind", "last success", "failures", "paused", "skipped", "last error")
    for row in rows:
        table.add_row(
            str(row["name"]),
            str(row["kind"]),
            str(row.get("last_success_at") or "never"),
            str(row.get("consecutive_failures", 0)),
            "yes" if row.get("paused") else "",
            str(row.get("skipped") or ""),
            str(row.get("last_error") or ""),
        )
    console.print(table)
    if skips:
        # entries the sources' feeds had but that could not be stored; the rest of each feed was
        skipped = Table("source", "entry", "reason", "times", "last seen", title="Skipped entries")
        for skip in skips:
            skipped.add_row(
                str(skip["source"]),
                str(skip["title"]),
                str(skip["reason"]),
                str(skip["times"]),
                str(skip["last_seen_at"]),
            )
        console.print(skipped)


@sources_app.command("check")
def sources_check(name: str) -> None:
    """Fetch and parse one source without storing anything."""
    from worker.collect.health import check_source
    from worker.collect.sources import sync_sources

    settings = _settings()
    with db.session_scope(settings) as session:
        sync_sources(session, settings)
        result = check_source(session, settings, name)
    for key, value in result.items():
        console.print(f"{key}: {value}")
    if not result.get("ok"):
        raise typer.Exit(1)


@sources_app.command("resume")
def sources_resume(name: str) -> None:
    """Resume a source paused after repeated failures."""
    from worker.collect.health import resume_source

    settings = _settings()
    with db.session_scope(settings) as session:
        resumed = resume_source(session, name)
    console.print(f"{name}: {'resumed' if resumed else 'was not paused'}")


@bounces_app.command("import")
def bounces_import(
    path: Annotated[
        Path, typer.Argument(help="A Maildir (the bounce mailbox), an mbox or a message file.")
    ],
) -> None:
    """Read bounce reports: hard bounces mark their ledger row bounced and suppress the row's
    subscriber, delays are noted; a report counts only for the row it proves it is about
    (signed Message-ID or VERP address, and the row's own address as recipient); reading the
    same reports again changes nothing. `digestcast inbox import` reads complaints and
    unsubscribe requests too."""
    from collections import Counter

    from worker.delivery import bounces
    from worker.inbox.mailboxes import MailboxError, messages

    settings = _settings()
    tally: Counter[str] = Counter()
    skipped: list[str] = []
    try:
        for key, raw in messages(path):
            with db.session_scope(settings) as session:  # one transaction per report
                outcomes = bounces.process(session, settings, raw)
            tally.update(outcomes)
            refused = {"unreadable", "not_ours", "wrong_recipient"} & set(outcomes)
            if refused:
                skipped.append(f"{key}: {', '.join(sorted(refused))}")
    except MailboxError as exc:
        err.print(str(exc))
        raise typer.Exit(2) from None
    console.print(
        f"bounces from {path}: {tally['bounced']} bounced (suppressed), {tally['delayed']} "
        f"delayed, {tally['already']} already recorded, {tally['not_ours']} not about our "
        f"messages, {tally['wrong_recipient']} for another recipient, {tally['unreadable']} "
        "not delivery reports"
    )
    for line in skipped[:20]:
        err.print(f"  {line}")
    if len(skipped) > 20:
        err.print(f"  ... and {len(skipped) - 20} more")
