"""Leaving and preferences, addressed by the signed token of the List-Unsubscribe URL.

RFC 8058: the mail provider POSTs `List-Unsubscribe=One-Click` to the URL without cookies or
authentication; we answer 200 with a short page, never a redirect. A GET (what link scanners and
previews do) only shows a page with one button and changes nothing. A token that does not verify
answers 400 and changes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session, object_session

from web.deps import SessionDep, get_settings_from, render
from web.security import CSRF_FIELD, csrf_ok, render_form
from worker import newsletters, subscriptions
from worker.i18n import N_
from worker.metrics import WEB_UNSUBSCRIBE
from worker.models import Subscriber, SubscriberState
from worker.tokens import TokenError, nonce_matches, read_unsubscribe_token

router = APIRouter(include_in_schema=False)

ONE_CLICK_FIELD = "List-Unsubscribe"
ONE_CLICK_VALUE = "One-Click"


def masked(email: str) -> str:
    """`j***@example.org`: enough for the owner to recognise, little for an onlooker."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


def _invalid(request: Request) -> HTMLResponse:
    return render(
        request,
        "message.html",
        {
            "title": N_("Invalid link"),
            "message": N_("This link is not valid. Nothing was changed."),
        },
        status_code=400,
    )


def form_expired(
    request: Request, one_click: bool, submitted_csrf: str, message: str, lang: str | None = None
) -> HTMLResponse | None:
    """The 403 page when a POST is neither RFC 8058's one click (only leaving has one) nor a
    form with a valid CSRF token (nothing changed); None when it may go on."""
    if one_click or csrf_ok(request, get_settings_from(request), submitted_csrf):
        return None
    return render(
        request,
        "message.html",
        {"title": N_("Please try again"), "message": message},
        status_code=403,
        lang=lang,
    )


def _subscriber(request: Request, session: Session, token: str) -> Subscriber | TokenError | None:
    """The row the token was made for; None when that row is gone (wiped, or replaced by a
    later row for the same address or, on SQLite, the same id: its nonce differs)."""
    try:
        ref = read_unsubscribe_token(get_settings_from(request), token)
    except TokenError as exc:
        return exc
    subscriber = session.get(Subscriber, ref.subscriber_id)
    if subscriber is None or not nonce_matches(subscriber.token_nonce, ref.nonce):
        return None
    return subscriber


def unsubscribe_subscriber(subscriber: Subscriber) -> None:
    """Idempotent: the first unsubscribe time is kept. A confirmation link still in a mailbox
    dies with it (leaving must not be undone by an old link)."""
    subscriber.confirm_nonce = None
    if subscriber.state != SubscriberState.unsubscribed:
        subscriber.state = SubscriberState.unsubscribed
        subscriber.unsubscribed_at = datetime.now(UTC)


@router.get("/u/{token}", response_class=HTMLResponse)
def unsubscribe_page(request: Request, token: str, session: SessionDep) -> HTMLResponse:
    found = _subscriber(request, session, token)
    if isinstance(found, TokenError):
        return _invalid(request)
    return render_form(
        request,
        "unsubscribe.html",
        {
            "token": token,
            "email": masked(found.email) if found is not None else None,
            "already": found is None or found.state == SubscriberState.unsubscribed,
        },
    )


@router.post("/u/{token}", response_class=HTMLResponse)
def unsubscribe(
    request: Request,
    token: str,
    session: SessionDep,
    one_click_value: Annotated[str, Form(alias=ONE_CLICK_FIELD)] = "",
    submitted_csrf: Annotated[str, Form(alias=CSRF_FIELD)] = "",
) -> HTMLResponse:
    found = _subscriber(request, session, token)
    if isinstance(found, TokenError):
        return _invalid(request)
    one_click = one_click_value == ONE_CLICK_VALUE
    expired = form_expired(
        request,
        one_click,
        submitted_csrf,
        N_("This form expired. Open the unsubscribe link again. Nothing was changed."),
    )
    if expired is not None:
        return expired
    if found is not None:
        unsubscribe_subscriber(found)
    WEB_UNSUBSCRIBE.labels("one_click" if one_click else "form").inc()
    return render(
        request,
        "message.html",
        {
            "title": N_("You are unsubscribed"),
            "message": N_("You will not receive the newsletter any more."),
            "preferences_token": token if found is not None else None,
        },
    )


@router.get("/preferences/{token}", response_class=HTMLResponse)
def preferences_page(request: Request, token: str, session: SessionDep) -> HTMLResponse:
    found = _subscriber(request, session, token)
    if isinstance(found, TokenError) or found is None:
        return _invalid(request)
    return _preferences(request, token, found, saved=False)


def _preferences(request: Request, token: str, found: Subscriber, *, saved: bool) -> HTMLResponse:
    """The preferences page with a fresh CSRF token (shown first, and again after saving)."""
    every = newsletters.all_newsletters(get_settings_from(request))
    session = object_session(found)
    on = subscriptions.slugs_of(session, found.id) if session is not None else []
    return render_form(
        request,
        "preferences.html",
        {
            "token": token,
            "email": masked(found.email),
            "subscriber": found,
            "unsubscribed": found.state == SubscriberState.unsubscribed,
            "saved": saved,
            "newsletters": every if len(every) > 1 else [],
            "on": on,
        },
    )


@router.post("/preferences/{token}", response_class=HTMLResponse)
def save_preferences(
    request: Request,
    token: str,
    session: SessionDep,
    submitted_csrf: Annotated[str, Form(alias=CSRF_FIELD)] = "",
    wants_daily: Annotated[str, Form()] = "",
    wants_audio_links: Annotated[str, Form()] = "",
    newsletter: Annotated[list[str] | None, Form()] = None,
    newsletters_listed: Annotated[str, Form()] = "",
) -> HTMLResponse:
    found = _subscriber(request, session, token)
    if isinstance(found, TokenError) or found is None:
        return _invalid(request)
    expired = form_expired(
        request, False, submitted_csrf, N_("This form expired. Nothing was changed.")
    )
    if expired is not None:
        return expired
    settings = get_settings_from(request)
    # unchecked checkboxes are simply absent from the form
    found.wants_daily = wants_daily == "on"
    found.wants_audio_links = wants_audio_links == "on"
    if newsletters_listed:  # the form showed the newsletters: what is unticked is left
        chosen = set(newsletter or [])
        for n in newsletters.all_newsletters(settings):
            if n.slug in chosen:
                subscriptions.join(session, found.id, [n.slug])  # the owner's own link
            else:
                subscriptions.leave(session, found.id, n.slug)
    return _preferences(request, token, found, saved=True)
