"""`digestcast`: the command line. Long commands show progress and end with a one-line summary."""

from __future__ import annotations

import logging
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from worker import db
from worker.cli_common import DateOption, NewsletterOption, console, err
from worker.cli_common import load_settings as _settings
from worker.cli_common import parse_day as _day
from worker.cli_common import progress_bars as _progress
from worker.cli_common import require_secret as _require_secret
from worker.cli_edition import register as register_edition_commands
from worker.cli_inbox import inbox_app
from worker.cli_lists import bounces_app, sources_app, subscribers_app
from worker.cli_ops import ops_user_app
from worker.queues import ALL_QUEUES, BULK_QUEUE, TRANSACTIONAL_QUEUE
from worker.settings import Settings

app = typer.Typer(help="digestcast: a daily newsletter with a voice.", no_args_is_help=True)
db_app = typer.Typer(help="Database migrations and pruning.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(subscribers_app, name="subscribers")
app.add_typer(sources_app, name="sources")
app.add_typer(bounces_app, name="bounces")
app.add_typer(inbox_app, name="inbox")
app.add_typer(ops_user_app, name="ops-user")
register_edition_commands(app)  # pause, resume, cancel, approve


# ---------------------------------------------------------------- the daily job
@app.command()
def run(
    date_: DateOption = None,
    no_send: Annotated[
        bool, typer.Option("--no-send", help="Build everything, send nothing.")
    ] = False,
    newsletter: Annotated[
        str | None,
        typer.Option("--newsletter", help="Only this newsletter (default: each one due that day)."),
    ] = None,
) -> None:
    """The whole daily job once: collect, audio, then build and deliver the edition of every
    newsletter due that day. Safe to run again."""
    from worker.pipeline import run_daily

    settings = _settings(newsletter)
    _require_secret(settings)
    db.upgrade(settings)
    day = _day(settings, date_)
    with _progress() as progress:
        summary = run_daily(settings, day, send=not no_send, progress=progress)
    for line in summary.lines():
        console.print(line)
    if summary.nothing_new:
        console.print("[bold]nothing new: no articles, no audio, no messages[/bold]")
    console.print(f"files under {settings.data_dir}, outbox {_outbox(settings)}")


def _outbox(settings: Settings) -> str:
    if settings.smtp_url:
        return "SMTP relay " + settings.smtp_url.split("@")[-1]
    return str(settings.outbox_dir)


@app.command()
def collect() -> None:
    """Collect every active source once."""
    from worker.pipeline import collect as run_collect

    settings = _settings()
    with _progress() as progress:
        summary = run_collect(settings, progress("collect"))
    console.print(summary.line())
    if summary.failed:
        raise typer.Exit(1)


@app.command()
def audio(
    date_: DateOption = None,
    renormalize: Annotated[
        bool,
        typer.Option(
            "--renormalize",
            help="Re-master existing files to the loudness, rate and bitrate settings; no TTS.",
        ),
    ] = False,
) -> None:
    """Synthesize audio for articles that need it (new, edited, missing or failed)."""
    from sqlalchemy import select

    from worker.models import Article
    from worker.pipeline import (
        articles_needing_audio,
        load_tasks,
        publish_podcasts,
        run_tasks,
        synthesize,
        task,
    )

    settings = _settings()
    load_tasks(settings)
    if renormalize:
        done = run_tasks(settings, [task("audio.renormalize")])[0]
        publish_podcasts(settings)  # the files' lengths changed
        console.print(
            f"renormalized {done['articles']} article files and {done['briefings']} briefings, "
            f"{done['unchanged']} already done; 0 TTS requests"
            + (f"; failed: {'; '.join(done['failed'])}" if done["failed"] else "")
        )
        if done["failed"]:
            raise typer.Exit(1)
        return
    ids = articles_needing_audio(settings)
    if date_ is not None:
        day = _day(settings, date_)
        with db.session_scope(settings) as session:
            stmt = select(Article.id).where(Article.published_day == day)
            ids = sorted(set(ids) | set(session.scalars(stmt)))
    with _progress() as progress:
        summary = synthesize(settings, ids, progress("audio"))
    # offline files are re-spoken with a better voice as soon as one is available
    upgrade = run_tasks(settings, [task("audio.upgrade_fallbacks")])[0]
    publish_podcasts(settings)
    console.print(summary.line() + f"; {summary.requests} TTS requests")
    if upgrade.get("candidates"):
        console.print(
            f"offline fallbacks: {upgrade['upgraded']} of {upgrade['candidates']} upgraded to gTTS"
            + (f", {upgrade['neural']} to the neural voice" if upgrade.get("neural") else "")
            + (f" ({upgrade['skipped']})" if upgrade.get("skipped") else "")
        )


@app.command()
def preview(
    date_: DateOption = None,
    out: Annotated[Path, typer.Option(help="Where to write the preview files.")] = Path(
        "var/preview"
    ),
    newsletter: NewsletterOption = None,
) -> None:
    """Write the day's email (HTML, text) and screenshots at 375 and 680 px for editors."""
    from worker.digest.preview import PreviewError
    from worker.digest.preview import preview as make_preview
    from worker.digest.tasks import builder
    from worker.edition import lifecycle
    from worker.storage import get_storage

    settings = _settings(newsletter, scope=True)
    day = _day(settings, date_)
    # (re)built with its briefing while the lifecycle allows it; a sent edition is shown as sent
    built = lifecycle.build(settings, day, builder=builder(), by="preview")
    console.print(built.line())
    try:
        with db.session_scope(settings) as session:
            result = make_preview(session, settings, get_storage(settings), day, out.resolve())
    except PreviewError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    for key, value in result.items():
        console.print(f"{key}: {value}")


@app.command()
def send(
    date_: DateOption = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Send a quiet or closed day against the policy (recorded)."),
    ] = False,
    by: Annotated[str | None, typer.Option("--by", help="Who asks (recorded).")] = None,
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded).")] = "",
    newsletter: NewsletterOption = None,
) -> None:
    """Build (if still allowed) and deliver the day's edition through its lifecycle."""
    from worker.pipeline import build_digest, deliver, delivery_lines

    settings = _settings(newsletter, scope=True)
    _require_secret(settings)
    day = _day(settings, date_)
    build_digest(settings, day)
    with _progress() as progress:
        result = deliver(settings, day, progress("send"), force=force, by=by, reason=reason)
    for line in delivery_lines(result):
        console.print(line)
    if not result["lifecycle"]["ok"]:
        raise typer.Exit(1)


@app.command()
def resend(
    date_: Annotated[str, typer.Option("--date", help="Kyiv date YYYY-MM-DD of the digest.")],
    to: Annotated[str | None, typer.Option("--to", help="Resend to this address only.")] = None,
    failed: Annotated[bool, typer.Option("--failed", help="Resend to failed deliveries.")] = False,
    everyone: Annotated[bool, typer.Option("--all", help="Resend to every subscriber.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would be sent.")] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Confirm --all without asking.")] = False,
    by: Annotated[str | None, typer.Option("--by", help="Who asks (recorded).")] = None,
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded).")] = "",
    newsletter: NewsletterOption = None,
) -> None:
    """Ops: resend a digest to one address, to the failed ones, or to everybody (recorded)."""
    from worker.edition.lifecycle import resend as do_resend
    from worker.pipeline import load_tasks

    if sum([to is not None, failed, everyone]) != 1:
        err.print("[red]choose exactly one of --to EMAIL, --failed, --all[/red]")
        raise typer.Exit(2)
    settings = _settings(newsletter, scope=True)
    _require_secret(settings)
    day = _day(settings, date_)
    if everyone and not dry_run and not yes:
        typer.confirm(f"Send the {day} digest again to EVERY subscriber?", abort=True)
    load_tasks(settings)
    result = do_resend(
        settings,
        day,
        to=to,
        failed=failed,
        everyone=everyone,
        dry_run=dry_run,
        requested_by=by,
        reason=reason,
    )
    if "refused" in result:
        err.print(f"[red]refused: {result['refused']}[/red]")
        raise typer.Exit(1)
    for key, value in result.items():
        console.print(f"{key}: {value}")


@app.command()
def status(date_: DateOption = None, newsletter: NewsletterOption = None) -> None:
    """One-glance health: every newsletter, then one edition's deliveries (the first
    newsletter's unless --newsletter), audio states, source health."""
    from worker.status import gather_status

    settings = _settings(newsletter, scope=True)
    day = _day(settings, date_)
    with db.session_scope(settings) as session:
        report = gather_status(session, settings, day)
    for title, rows in report.items():
        table = Table(title=title)
        if rows:
            for column in rows[0]:
                table.add_column(str(column))
            for row in rows:
                table.add_row(*(str(v) for v in row.values()))
        console.print(table)


# ---------------------------------------------------------------- long-running processes
@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(help="Worker processes.")] = 2,
    queues: Annotated[
        str,
        typer.Option(
            help="Comma-separated queues: `transactional` (confirmations, approval mails), "
            "`celery` (everything else, the bulk send)."
        ),
    ] = ALL_QUEUES,
    hostname: Annotated[
        str | None,
        typer.Option(help="Node name, unique per worker (default celery@<host>; %h: host)."),
    ] = None,
) -> None:
    """Start a Celery worker (needs DIGESTCAST_BROKER_URL)."""
    settings = _settings()
    _require_secret(settings)
    if settings.embedded:
        err.print(
            "[red]set DIGESTCAST_BROKER_URL=redis://... first: "
            "embedded mode runs tasks in-process[/red]"
        )
        raise typer.Exit(2)
    known = {BULK_QUEUE, TRANSACTIONAL_QUEUE}
    chosen = [q.strip() for q in queues.split(",") if q.strip()]
    unknown = sorted(set(chosen) - known)
    if not chosen or unknown:
        err.print(f"[red]--queues: choose among {', '.join(sorted(known))} (got {queues!r})[/red]")
        raise typer.Exit(2)
    from worker.celery_app import app as celery_app
    from worker.pipeline import load_tasks

    load_tasks(settings)
    argv = ["worker", f"--concurrency={concurrency}", f"--queues={','.join(chosen)}"]
    if hostname:
        argv.append(f"--hostname={hostname}")
    celery_app.worker_main([*argv, "--loglevel=INFO"])


@app.command()
def beat() -> None:
    """Start the scheduler (exactly one per deployment; redbeat holds a Redis lock)."""
    settings = _settings()
    _require_secret(settings)
    if settings.embedded:
        err.print(
            "[red]beat needs DIGESTCAST_BROKER_URL=redis://...; "
            "without a broker, schedule `digestcast run` with cron instead[/red]"
        )
        raise typer.Exit(2)
    from scheduler.beat import BeatConfigError, configure_beat
    from worker.celery_app import app as celery_app

    try:
        configure_beat(celery_app, settings)
    except BeatConfigError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    celery_app.start(["beat", "--loglevel=INFO"])


@app.command()
def web(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, help="Processes (each builds its app from the environment).")
    ] = 1,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            help="Proxy addresses (comma-separated, or *) whose X-Forwarded-For/-Proto are "
            "believed; default: $FORWARDED_ALLOW_IPS or 127.0.0.1."
        ),
    ] = None,
) -> None:
    """Serve subscribe/unsubscribe, listening pages, the archive and the ops API."""
    from web.serve import serve

    settings = _settings()
    _require_secret(settings)
    serve(settings, host, port, workers=workers, forwarded_allow_ips=forwarded_allow_ips)


@app.command()
def secret() -> None:
    """Print a fresh random SECRET_KEY (48 bytes, URL-safe)."""
    from worker.secret_guard import new_secret

    typer.echo(new_secret())


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply database migrations."""
    settings = _settings()
    logging.getLogger("alembic.runtime.migration").setLevel(logging.INFO)
    db.upgrade(settings)
    console.print(f"database at head: {settings.database_url.split('@')[-1]}")


@db_app.command("prune")
def db_prune(
    older_than: Annotated[
        str, typer.Option("--older-than", help="Age of the editions to prune, e.g. 400d.")
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would go, delete nothing.")
    ] = False,
) -> None:
    """Drop the ledger rows of finished editions older than that, keeping each one's totals."""
    from worker.delivery.prune import parse_age, prune

    try:
        age = parse_age(older_than)
    except ValueError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    settings = _settings()
    with db.session_scope(settings) as session:
        result = prune(session, datetime.now(settings.tz).date(), age, dry_run=dry_run)
    verb, months = ("would prune" if dry_run else "pruned"), len(result["partitions"])
    console.print(
        f"{verb} {len(result['editions'])} editions before {result['before']}: "
        f"{result['rows']:,} ledger rows (their totals kept)"
        + (f", {months} whole months of the ledger (PostgreSQL partitions)" if months else "")
    )


# ---------------------------------------------------------------- subscribers
def main() -> None:
    from worker.collect.sources import SourcesError

    try:
        app()
    except SourcesError as exc:  # a bad sources file: say which entries, no traceback
        err.print(f"[red]{exc}[/red]")
        sys.exit(2)
