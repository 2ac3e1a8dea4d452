"""What every `digestcast` command shares: consoles, settings, the date option, progress bars."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)

from worker.settings import Settings, get_settings

console = Console()
err = Console(stderr=True)

DateOption = Annotated[
    str | None, typer.Option("--date", help="Kyiv date YYYY-MM-DD (default: today in Kyiv).")
]


NewsletterOption = Annotated[
    str | None,
    typer.Option("--newsletter", help="The newsletter's slug (default: the first one)."),
]


def load_settings(newsletter: str | None = None, *, scope: bool = False) -> Settings:
    """The settings; with `scope` (or a `newsletter`), as one newsletter's editions see them
    (worker/newsletters.py: its name, send time, sender, List-Id, language)."""
    settings = get_settings()
    if scope or newsletter:
        from worker import newsletters

        try:
            settings = newsletters.scoped(settings, newsletter)
        except newsletters.NewsletterError as exc:
            err.print(f"[red]{exc}[/red]", highlight=False)
            raise typer.Exit(2) from None
    from worker.celery_app import configure
    from worker.logging import configure_logging

    configure_logging(settings)
    if settings.embedded:
        # tasks run in this process and the command summarizes them; their trace lines are noise
        logging.getLogger("celery.app.trace").setLevel(logging.WARNING)
    # migrations are reported by `db upgrade`; elsewhere "already at head" is noise
    logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)
    configure(settings)
    return settings


def require_secret(settings: Settings) -> None:
    """Refuse to start a process that signs links for people with a weak SECRET_KEY."""
    from rich.markup import escape

    from worker.secret_guard import weak_secret

    problem = weak_secret(settings)
    if problem:
        err.print(
            f"[red]refusing to start: {escape(problem)}[/red]", highlight=False, soft_wrap=True
        )
        raise typer.Exit(2)


def parse_day(settings: Settings, value: str | None) -> date:
    if value is None:
        return datetime.now(settings.tz).date()
    try:
        return date.fromisoformat(value)
    except ValueError:
        err.print(f"[red]--date must be YYYY-MM-DD, got {value!r}[/red]")
        raise typer.Exit(2) from None


@contextmanager
def progress_bars() -> Iterator[Callable[[str], Callable[[int, int, str], None]]]:
    """Yields stage -> callback; each stage gets its own bar with rate and time remaining."""
    bars = Progress(
        TextColumn("[bold]{task.description:<8}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[label]}"),
        console=err,
        transient=False,
        disable=not err.is_terminal,
    )
    ids: dict[str, Any] = {}

    def for_stage(stage: str) -> Callable[[int, int, str], None]:
        def update(done: int, total: int, label: str) -> None:
            if stage not in ids:
                ids[stage] = bars.add_task(stage, total=total, label="")
            bars.update(ids[stage], completed=done, total=total, label=label[-40:])

        return update

    with bars:
        yield for_stage


# ---------------------------------------------------------------- the daily job
