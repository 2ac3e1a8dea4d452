"""Which newsletter the console is looking at: `?newsletter=SLUG` on every edition URL
(unset: the first newsletter, whose URLs stay as they were before newsletters existed).

Every edition page and action reads it here, finds the edition by (slug, day) and calls the
lifecycle with that newsletter's settings (worker/newsletters.py scoped), so acting on one
newsletter's edition can never touch another's.
"""

from __future__ import annotations

from datetime import date
from urllib.parse import quote

from fastapi import HTTPException, Request

from web.deps import get_settings_from
from worker import newsletters
from worker.settings import Settings


def slug(request: Request) -> str:
    """The chosen newsletter's slug; 404 for an unknown one."""
    settings = get_settings_from(request)
    wanted = request.query_params.get("newsletter") or None
    if wanted is not None and len(wanted) > 64:
        raise HTTPException(404, "no such newsletter")
    try:
        return newsletters.get(settings, wanted).slug
    except newsletters.NewsletterError as exc:
        raise HTTPException(404, str(exc)) from None


def first(settings: Settings) -> str:
    return newsletters.get(settings, None).slug


def settings_for(request: Request) -> Settings:
    """The app's settings as the chosen newsletter's editions see them (lifecycle's key)."""
    return newsletters.scoped(get_settings_from(request), slug(request))


def key(request: Request, day: date) -> tuple[str, date]:
    return (slug(request), day)


def query(request: Request) -> str:
    """`?newsletter=SLUG` to carry the choice on links and forms; empty for the first."""
    chosen = slug(request)
    if chosen == first(get_settings_from(request)):
        return ""
    return "?newsletter=" + quote(chosen, safe="")


def edition_url(request: Request, day: date, tail: str = "", note: int | None = None) -> str:
    """`/ops/editions/D[/tail]` for the chosen newsletter, with the audit note to show."""
    url = f"/ops/editions/{day.isoformat()}{tail}{query(request)}"
    if note is not None:
        url += ("&" if "?" in url else "?") + f"note={note}"
    return url


def switcher(request: Request) -> dict[str, object]:
    """The console's context: every newsletter (for the switcher), the chosen one, its query."""
    every = newsletters.all_newsletters(get_settings_from(request))
    try:
        picked, carried = slug(request), query(request)
    except HTTPException:  # the error page of an unknown slug: show the first one's links
        picked, carried = every[0].slug, ""
    return {
        "newsletters": [(n.slug, n.name) for n in every],
        "chosen": picked,
        "chosen_name": next(n.name for n in every if n.slug == picked),
        "nq": carried,
    }
