"""What every route needs: the app's settings, a database session, the page renderer (which
takes its Jinja environment from web/page_language.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session

from web.page_language import environment, reader_language, supported
from worker.db import session_scope
from worker.settings import Settings


def get_settings_from(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    with session_scope(get_settings_from(request)) as session:
        yield session


# scope="function": the session commits when the handler returns, BEFORE the answer is sent;
# with the default ("request") a 200 for an unsubscribe could go out before (or without) the
# commit, and a client reading right after would still see the old state.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def zone_label(name: str) -> str:
    """ "Europe/Kyiv" -> "Kyiv": how a reader names the zone."""
    return name.rsplit("/", 1)[-1].replace("_", " ")


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    lang: str | None = None,
) -> HTMLResponse:
    """`lang`: the newsletter's language on a page about one newsletter; unset, the reader's
    (Accept-Language among the catalogues, else English)."""
    language = supported(lang) if lang else reader_language(request)
    env = environment(request, language)
    settings = get_settings_from(request)
    values: dict[str, Any] = {
        "newsletter_name": settings.newsletter_name,
        "request": request,
        "tz": settings.tz,
        "timezone_label": zone_label(settings.timezone),
        "public_base_url": settings.public_base_url.rstrip("/"),
        "page_language": language,
    }
    values.update(context or {})
    html = env.get_template(template).render(values)
    response = HTMLResponse(html, status_code=status_code, headers=headers)
    if not lang:  # the language came from the request: a cache must keep one copy per header
        response.headers.append("Vary", "Accept-Language")
    return response


def public_redirect(request: Request, path: str, status_code: int = 308) -> RedirectResponse:
    """A redirect to `path` on PUBLIC_BASE_URL: never built from the request's Host header."""
    base = get_settings_from(request).public_base_url.rstrip("/")
    return RedirectResponse(base + path, status_code=status_code)


# the ops API's `?newsletter=SLUG` (worker/newsletters.py): unset, the first newsletter
NewsletterQuery = Annotated[
    str | None, Query(max_length=64, description="The newsletter's slug (default: the first)")
]


def newsletter_settings(request: Request, newsletter: str | None) -> Settings:
    """The app's settings as one newsletter's editions see them; 404 for an unknown slug."""
    from fastapi import HTTPException

    from worker import newsletters

    try:
        return newsletters.scoped(get_settings_from(request), newsletter)
    except newsletters.NewsletterError as exc:
        raise HTTPException(404, str(exc)) from None
