"""Double opt-in: the form, the confirmation mail, the confirmation link.

POST /subscribe never reveals whether an address is already on the list: every valid request
answers "check your email" and the mail goes to the address itself, so only its owner learns
the outcome (confirmed, already subscribed) by clicking.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from web.deps import SessionDep, get_settings_from, make_environment, render
from web.security import CSRF_FIELD, csrf_ok, render_form
from worker.db import session_scope
from worker.delivery import subscribers
from worker.delivery.subscribers import InvalidAddress, validate_address
from worker.metrics import WEB_CONFIRM, WEB_SUBSCRIBE
from worker.models import Digest, SubscriberState, Suppression
from worker.settings import Settings
from worker.tokens import TokenError, confirm_token, read_confirm_token

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

HONEYPOT_FIELD = "website"


def _form_page(request: Request, settings: Settings, **context: Any) -> HTMLResponse:
    status = int(context.pop("status_code", 200))
    return render_form(
        request, "subscribe.html", {"honeypot": HONEYPOT_FIELD, **context}, status_code=status
    )


@router.get("/", response_class=HTMLResponse)
def home(request: Request, session: SessionDep) -> HTMLResponse:
    """The subscribe form, and the latest days to read or listen to."""
    latest = session.scalars(select(Digest).order_by(Digest.date.desc()).limit(7)).all()
    return _form_page(request, get_settings_from(request), latest=latest)


@router.get("/subscribe", response_class=HTMLResponse)
def subscribe_form(request: Request) -> HTMLResponse:
    return _form_page(request, get_settings_from(request))


def send_confirmation(settings: Settings, email: str) -> None:
    # imported here: the delivery stage imports the digest stage, which a page view never needs
    from worker.delivery.service import send_transactional

    link = f"{settings.public_base_url.rstrip('/')}/confirm/{confirm_token(settings, email)}"
    env = make_environment()
    context = {
        "newsletter_name": settings.newsletter_name,
        "link": link,
        "days": max(1, settings.confirm_max_age_seconds // 86400),
    }
    text = env.get_template("confirm_email.txt.j2").render(context)
    html = env.get_template("confirm_email.html.j2").render(context)
    # the subject is ours; the name cannot carry CR/LF into a header
    subject = f"Confirm your subscription to {settings.newsletter_name}".replace("\r", " ")
    send_transactional(settings, email, subject.replace("\n", " "), text, html)


@router.post("/subscribe", response_class=HTMLResponse)
def subscribe(
    request: Request,
    email: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    honeypot: Annotated[str, Form(alias=HONEYPOT_FIELD)] = "",
    submitted_csrf: Annotated[str, Form(alias=CSRF_FIELD)] = "",
) -> HTMLResponse:
    settings = get_settings_from(request)
    if not csrf_ok(request, settings, submitted_csrf):
        WEB_SUBSCRIBE.labels("csrf").inc()
        return _form_page(
            request,
            settings,
            error="This form expired. Please submit it again.",
            status_code=403,
        )
    client = request.client.host if request.client else "unknown"
    retry_after = request.app.state.subscribe_limiter.hit(client)
    if retry_after:
        WEB_SUBSCRIBE.labels("rate_limited").inc()
        response = render(
            request,
            "message.html",
            {
                "title": "Too many attempts",
                "message": "Too many subscription attempts from your network. "
                "Please try again later.",
            },
            status_code=429,
        )
        response.headers["Retry-After"] = str(int(retry_after) + 1)
        return response
    if honeypot:
        # a bot filled the invisible field: answer like a success, do nothing
        log.info("subscribe: honeypot filled from %s", client)
        WEB_SUBSCRIBE.labels("honeypot").inc()
        return render(request, "check_email.html", {})
    try:
        address = validate_address(email).email
    except InvalidAddress:
        WEB_SUBSCRIBE.labels("invalid").inc()
        return _form_page(
            request,
            settings,
            error="Please enter a valid email address.",
            email=email[:320],
            status_code=400,
        )
    try:
        with session_scope(settings) as session:
            suppressed = session.scalar(select(Suppression.id).where(Suppression.email == address))
            # an existing row is left untouched: a stranger must not rename or re-state it
            if subscribers.get(session, address) is None and not suppressed:
                subscribers.add(session, address, name, state=SubscriberState.pending)
    except IntegrityError:
        # a concurrent post for the same address inserted it first: the row exists, go on
        suppressed = None
    if not suppressed:
        try:
            send_confirmation(settings, address)
        except Exception:  # the transport is down: say so instead of a bare 500
            log.exception("subscribe: could not send the confirmation mail")
            WEB_SUBSCRIBE.labels("mail_failed").inc()
            return render(
                request,
                "message.html",
                {
                    "title": "Please try again later",
                    "message": "We could not send the confirmation email just now.",
                    "subscribe_link": True,
                },
                status_code=503,
            )
    WEB_SUBSCRIBE.labels("suppressed" if suppressed else "mailed").inc()
    return render(request, "check_email.html", {})


def _confirmable(request: Request, token: str) -> str | HTMLResponse:
    """The address a confirmation token proves, or the page saying why it does not."""
    settings = get_settings_from(request)
    try:
        return read_confirm_token(settings, token, max_age_seconds=settings.confirm_max_age_seconds)
    except TokenError as exc:
        expired = "expired" in str(exc)
        WEB_CONFIRM.labels("expired" if expired else "invalid").inc()
        return render(
            request,
            "message.html",
            {
                "title": "Link expired" if expired else "Invalid link",
                "message": (
                    "This confirmation link has expired. Please subscribe again."
                    if expired
                    else "This confirmation link is not valid."
                ),
                "subscribe_link": True,
            },
            status_code=410 if expired else 400,
        )


def _already_subscribed(request: Request, email: str) -> HTMLResponse:
    WEB_CONFIRM.labels("already").inc()
    name = get_settings_from(request).newsletter_name
    return render(
        request,
        "message.html",
        {"title": "Already subscribed", "message": f"{email} is already subscribed to {name}."},
    )


@router.get("/confirm/{token}", response_class=HTMLResponse)
def confirm_page(request: Request, token: str, session: SessionDep) -> HTMLResponse:
    """One button that confirms. The GET itself changes nothing: mail scanners that open every
    link (Safe Links and the like) must not confirm a subscription somebody else asked for."""
    email = _confirmable(request, token)
    if isinstance(email, HTMLResponse):
        return email
    subscriber = subscribers.get(session, email)
    if subscriber is not None and subscriber.state == SubscriberState.active:
        return _already_subscribed(request, email)
    return render_form(request, "confirm.html", {"token": token, "email": email})


@router.post("/confirm/{token}", response_class=HTMLResponse)
def confirm(
    request: Request,
    token: str,
    session: SessionDep,
    submitted_csrf: Annotated[str, Form(alias=CSRF_FIELD)] = "",
) -> HTMLResponse:
    settings = get_settings_from(request)
    email = _confirmable(request, token)
    if isinstance(email, HTMLResponse):
        return email
    if not csrf_ok(request, settings, submitted_csrf):
        return render(
            request,
            "message.html",
            {
                "title": "Please try again",
                "message": "This form expired. Open the link in your email again.",
            },
            status_code=403,
        )
    subscriber = subscribers.get(session, email)
    now = datetime.now(UTC)
    if subscriber is not None and subscriber.state == SubscriberState.active:
        return _already_subscribed(request, email)
    if subscriber is None:
        # the row was removed meanwhile; the signed link still proves the address
        subscriber = subscribers.add(session, email, state=SubscriberState.active)
    subscriber.state = SubscriberState.active
    subscriber.confirmed_at = now
    subscriber.unsubscribed_at = None
    subscriber.wants_daily = True
    WEB_CONFIRM.labels("confirmed").inc()
    return render(
        request,
        "message.html",
        {
            "title": "Subscription confirmed",
            "message": f"Thank you. {email} will receive {settings.newsletter_name} every morning.",
        },
    )
