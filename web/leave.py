"""Leaving one newsletter: the List-Unsubscribe URL of a newsletter's mail, `/u/{token}/{slug}`.

RFC 8058 as for `/u/{token}` (web/unsubscribe.py): a POST with `List-Unsubscribe=One-Click`
answers 200 without cookies; a GET shows one button and changes nothing. The POST takes the
subscriber off that newsletter only; the page after it offers "unsubscribe from everything"
(the global unsubscribe of `/u/{token}`). Suppression is never per newsletter.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse

from web.deps import SessionDep, get_settings_from
from web.security import CSRF_FIELD, render_form
from web.unsubscribe import (
    ONE_CLICK_FIELD,
    ONE_CLICK_VALUE,
    _invalid,
    _subscriber,
    form_expired,
    masked,
)
from worker import newsletters, subscriptions
from worker.i18n import N_
from worker.metrics import WEB_UNSUBSCRIBE
from worker.models import SubscriberState
from worker.tokens import TokenError

router = APIRouter(include_in_schema=False)


def _newsletter(request: Request, slug: str) -> newsletters.Newsletter | None:
    try:
        return newsletters.get(get_settings_from(request), slug)
    except newsletters.NewsletterError:
        return None


@router.get("/u/{token}/{slug}", response_class=HTMLResponse)
def leave_page(request: Request, token: str, slug: str, session: SessionDep) -> HTMLResponse:
    found = _subscriber(request, session, token)
    newsletter = _newsletter(request, slug)
    if isinstance(found, TokenError) or newsletter is None:
        return _invalid(request)
    on_it = found is not None and slug in subscriptions.slugs_of(session, found.id)
    return render_form(
        request,
        "unsubscribe.html",
        {
            "token": token,
            "action": f"/u/{token}/{newsletter.slug}",
            "newsletter_name": newsletter.name,
            "email": masked(found.email) if found is not None else None,
            "already": not on_it or found is None or found.state == SubscriberState.unsubscribed,
        },
        lang=newsletter.language,
    )


@router.post("/u/{token}/{slug}", response_class=HTMLResponse)
def leave(
    request: Request,
    token: str,
    slug: str,
    session: SessionDep,
    one_click_value: Annotated[str, Form(alias=ONE_CLICK_FIELD)] = "",
    submitted_csrf: Annotated[str, Form(alias=CSRF_FIELD)] = "",
) -> HTMLResponse:
    found = _subscriber(request, session, token)
    newsletter = _newsletter(request, slug)
    if isinstance(found, TokenError) or newsletter is None:
        return _invalid(request)
    one_click = one_click_value == ONE_CLICK_VALUE
    expired = form_expired(
        request,
        one_click,
        submitted_csrf,
        N_("This form expired. Nothing was changed."),
        newsletter.language,
    )
    if expired is not None:
        return expired
    remaining: list[str] = []
    if found is not None:
        subscriptions.leave(session, found.id, newsletter.slug)
        remaining = subscriptions.slugs_of(session, found.id)
    WEB_UNSUBSCRIBE.labels("one_click" if one_click else "form").inc()
    names = {n.slug: n.name for n in newsletters.all_newsletters(get_settings_from(request))}
    return render_form(
        request,
        "left.html",
        {
            "token": token if found is not None else None,
            "left_name": newsletter.name,
            "newsletter_name": newsletter.name,
            "remaining": [names.get(s, s) for s in remaining],
            "everything": found is not None and found.state != SubscriberState.unsubscribed,
        },
        lang=newsletter.language,
    )
