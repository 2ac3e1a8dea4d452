"""`digestcast pause|resume|cancel|approve --date D`: each one lifecycle transition, recorded
with who (`--by`, else DIGESTCAST_OPERATOR or the login name) and why (`--reason`)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer

from worker.cli_common import NewsletterOption, console, err, require_secret
from worker.cli_common import load_settings as _settings
from worker.cli_common import parse_day as _day
from worker.settings import Settings

DateRequired = Annotated[str, typer.Option("--date", help="Kyiv date YYYY-MM-DD of the edition.")]
Reason = Annotated[str, typer.Option("--reason", help="Why (recorded).")]
By = Annotated[str | None, typer.Option("--by", help="Who asks (recorded).")]
# how long pause and cancel wait for the workers to stop (each finishes its message first)
STOP_WAIT_SECONDS = 15.0


def _edition(
    newsletter: str | None, date_: str, *, sends_mail: bool = False
) -> tuple[Settings, date]:
    """The settings scoped to the newsletter, with the tasks loaded (a transition queues work),
    and the edition's day. `sends_mail`: the secret is required first, for the signed links."""
    from worker.pipeline import load_tasks

    settings = _settings(newsletter, scope=True)
    if sends_mail:
        require_secret(settings)
    load_tasks(settings)
    return settings, _day(settings, date_)


def _report(outcome: object) -> None:
    from worker.edition.lifecycle import TransitionOutcome

    assert isinstance(outcome, TransitionOutcome)
    if not outcome.ok:
        err.print(f"[red]{outcome.line()}[/red]")
        raise typer.Exit(1)
    console.print(outcome.line())
    busy = outcome.detail.get("in_flight")
    if busy:
        console.print(
            f"{busy} messages still claimed: they return to the queue when their lease ends"
        )
    elif busy == 0:
        console.print("workers stopped: no message is being sent")


def pause(
    date_: DateRequired, reason: Reason = "", by: By = None, newsletter: NewsletterOption = None
) -> None:
    """Pause the day's send: workers stop within seconds, after the message on the wire."""
    from worker.edition import lifecycle

    settings, day = _edition(newsletter, date_)
    _report(lifecycle.pause(settings, day, by=by, reason=reason, wait_seconds=STOP_WAIT_SECONDS))


def resume(
    date_: DateRequired, reason: Reason = "", by: By = None, newsletter: NewsletterOption = None
) -> None:
    """Resume a paused send exactly where it stopped (nobody missed, nobody twice)."""
    from worker.edition import lifecycle

    settings, day = _edition(newsletter, date_, sends_mail=True)
    _report(lifecycle.resume(settings, day, by=by, reason=reason))


def cancel(
    date_: DateRequired,
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded; required).")],
    by: By = None,
    newsletter: NewsletterOption = None,
) -> None:
    """Cancel the day's edition: unsent rows become `cancelled`, what was sent stays sent."""
    from worker.edition import lifecycle

    settings, day = _edition(newsletter, date_)
    _report(lifecycle.cancel(settings, day, by=by, reason=reason, wait_seconds=STOP_WAIT_SECONDS))


def approve(
    date_: DateRequired, reason: Reason = "", by: By = None, newsletter: NewsletterOption = None
) -> None:
    """Approve a held edition (SEND_APPROVAL=required); after the send time it goes out now."""
    from worker.digest.tasks import builder
    from worker.edition import lifecycle

    # an approval after the send time sends at once
    settings, day = _edition(newsletter, date_, sends_mail=True)
    _report(lifecycle.approve(settings, day, by=by, reason=reason, builder=builder()))


def register(app: typer.Typer) -> None:
    for command in (pause, resume, cancel, approve):
        app.command()(command)
