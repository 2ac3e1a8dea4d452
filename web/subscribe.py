"""Double opt-in: the form, the confirmation mail, the confirmation link.

POST /subscribe never reveals whether an address is already on the list: every valid request
answers "check your email" and the mail goes to the address itself, so only its owner learns
the outcome (confirmed, already subscribed) by clicking. Two throttles (web/throttle.py) hold
it back: per client address (429, it is about the client), and per recipient address (at
most SUBSCRIBE_RECIPIENT_LIMIT mails a window; later posts get the same "check your email").

The link names the row and its confirmation nonce, never the address (worker/tokens.py). It
works once: using it clears the nonce. At use it is checked again against the row as it is
now: a suppressed address, an unsubscribe after the link was mailed, or a row wiped (or one
created after the link) makes it void, and nothing changes.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, object_session

from web.deps import SessionDep, get_settings_from, render
from web.page_language import gettext as _t
from web.page_language import make_environment, reader_language
from web.pages import listed_editions
from web.security import CSRF_FIELD, csrf_ok, render_form
from web.throttle import SubscribeThrottles, client_key, recipient_key
from web.unsubscribe import form_expired, masked
from worker import newsletters, subscriptions, welcome
from worker.db import session_scope
from worker.delivery import subscribers
from worker.delivery.subscribers import InvalidAddress, validate_address
from worker.edition.lookup import edition_path
from worker.i18n import N_
from worker.metrics import WEB_CONFIRM, WEB_SUBSCRIBE
from worker.models import Digest, Subscriber, SubscriberState
from worker.settings import Settings
from worker.tokens import (
    ConfirmRef,
    TokenError,
    confirm_token,
    new_nonce,
    nonce_matches,
    read_confirm_token,
)

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

HONEYPOT_FIELD = "website"


def _form_page(request: Request, settings: Settings, **context: Any) -> HTMLResponse:
    status = int(context.pop("status_code", 200))
    every = newsletters.all_newsletters(settings)
    return render_form(
        request,
        "subscribe.html",
        {
            "honeypot": HONEYPOT_FIELD,
            "newsletters": every if len(every) > 1 else [],
            "names": {n.slug: n.name for n in every},
            "path": edition_path,
            **context,
        },
        status_code=status,
    )


@router.get("/", response_class=HTMLResponse)
def home(request: Request, session: SessionDep) -> HTMLResponse:
    """The subscribe form, and the latest days to read or listen to."""
    latest = session.scalars(listed_editions().order_by(Digest.date.desc()).limit(7)).all()
    return _form_page(request, get_settings_from(request), latest=latest)


@router.get("/subscribe", response_class=HTMLResponse)
def subscribe_form(request: Request) -> HTMLResponse:
    return _form_page(request, get_settings_from(request))


def send_confirmation(settings: Settings, email: str, subscriber_id: int, nonce: str) -> None:
    # imported here: the delivery stage imports the digest stage, which a page view never needs
    from worker.delivery.transactional import send_soon

    token = confirm_token(settings, subscriber_id, nonce)
    link = f"{settings.public_base_url.rstrip('/')}/confirm/{token}"
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
    # on the transactional queue (a worker sends it at once, even during a bulk send);
    # in-process without a broker
    send_soon(settings, email, subject.replace("\n", " "), text, html)


def _confirmation_for(
    settings: Settings, address: str, name: str, chosen: list[str]
) -> tuple[int, str] | None:
    """The row and confirmation nonce to mail for `address`; None when it must not be mailed.

    A new address becomes a pending row; an existing row is left as it is (a stranger must not
    rename or re-state it) apart from its confirmation nonce, drawn once and kept until used,
    so every mail of a pending address carries a working link."""
    for _ in range(2):  # a concurrent post may insert the row first: then read it
        try:
            with session_scope(settings) as session:
                if subscribers.blocks_opt_in(session, address):
                    return None
                subscriber = subscribers.get(session, address)
                if subscriber is None:
                    pending = SubscriberState.pending
                    subscriber = subscribers.add(session, address, name, state=pending)
                row_id = subscriber.id
                # asked for only: joined when the link is used (a stranger adds nothing)
                subscriptions.ask(session, row_id, chosen)
                session.execute(
                    update(Subscriber)
                    .where(Subscriber.id == row_id, Subscriber.confirm_nonce.is_(None))
                    .values(confirm_nonce=new_nonce())
                    .execution_options(synchronize_session=False)
                )
                nonce = session.scalar(
                    select(Subscriber.confirm_nonce).where(Subscriber.id == row_id)
                )
                if nonce is not None:
                    return row_id, nonce
        except IntegrityError:
            continue
    raise RuntimeError(f"could not record a confirmation for {address}")


def _too_many(request: Request) -> HTMLResponse:
    return render(
        request,
        "message.html",
        {
            "title": N_("Too many attempts"),
            "message": N_(
                "Too many subscription attempts from your network. Please try again later."
            ),
        },
        status_code=429,
    )


@router.post("/subscribe", response_class=HTMLResponse)
def subscribe(
    request: Request,
    email: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    honeypot: Annotated[str, Form(alias=HONEYPOT_FIELD)] = "",
    submitted_csrf: Annotated[str, Form(alias=CSRF_FIELD)] = "",
    newsletter: Annotated[list[str] | None, Form()] = None,
) -> HTMLResponse:
    settings = get_settings_from(request)
    known = [n.slug for n in newsletters.all_newsletters(settings)]
    # unknown slugs are dropped; none chosen (or a form without the choice): the first one
    chosen = [slug for slug in known if slug in (newsletter or [])] or known[:1]
    if not csrf_ok(request, settings, submitted_csrf):
        WEB_SUBSCRIBE.labels("csrf").inc()
        return _form_page(
            request,
            settings,
            error=N_("This form expired. Please submit it again."),
            status_code=403,
        )
    throttles: SubscribeThrottles = request.app.state.subscribe_throttles
    client = request.client.host if request.client else None
    retry_after = throttles.client.hit(client_key(client))
    if retry_after:
        WEB_SUBSCRIBE.labels("rate_limited").inc()
        response = _too_many(request)
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
            error=N_("Please enter a valid email address."),
            email=email[:320],
            status_code=400,
        )
    if throttles.recipient.hit(recipient_key(settings, address)):
        # enough mail to that address for now; the answer must not tell a stranger so
        WEB_SUBSCRIBE.labels("recipient_limited").inc()
        return render(request, "check_email.html", {})
    found = _confirmation_for(settings, address, name, chosen)
    if found is not None:
        try:
            send_confirmation(settings, address, *found)
        except Exception:  # the transport is down: say so instead of a bare 500
            log.exception("subscribe: could not send the confirmation mail")
            WEB_SUBSCRIBE.labels("mail_failed").inc()
            return render(
                request,
                "message.html",
                {
                    "title": N_("Please try again later"),
                    "message": N_("We could not send the confirmation email just now."),
                    "subscribe_link": True,
                },
                status_code=503,
            )
    WEB_SUBSCRIBE.labels("mailed" if found is not None else "suppressed").inc()
    return render(request, "check_email.html", {})


# ---------------------------------------------------------------- the link
def _void(request: Request, outcome: str, title: str, message: str, status: int) -> HTMLResponse:
    WEB_CONFIRM.labels(outcome).inc()
    return render(
        request,
        "message.html",
        {"title": title, "message": message, "subscribe_link": True},
        status_code=status,
    )


def _used(request: Request) -> HTMLResponse:
    return _void(
        request,
        "used",
        "Link already used",
        "This confirmation link was used already. Please subscribe again.",
        410,
    )


def _surely_after(moment: datetime | None, issued_at: datetime) -> bool:
    # the token's time has whole seconds: only a moment a full second past it is surely later
    return moment is not None and moment >= issued_at + timedelta(seconds=1)


def _confirmable(
    request: Request, session: Session, token: str
) -> tuple[ConfirmRef, Subscriber] | HTMLResponse:
    """The link's row, checked against the row as it is now; else the page saying why the
    link does nothing (or that the address is subscribed already)."""
    settings = get_settings_from(request)
    try:
        ref = read_confirm_token(settings, token, settings.confirm_max_age_seconds)
    except TokenError as exc:
        if "expired" in str(exc):
            return _void(
                request,
                "expired",
                "Link expired",
                "This confirmation link has expired. Please subscribe again.",
                410,
            )
        return _void(
            request, "invalid", "Invalid link", "This confirmation link is not valid.", 400
        )
    row = session.get(Subscriber, ref.subscriber_id)
    suppressed = row is not None and subscribers.blocks_opt_in(session, row.email)
    if (
        row is None  # wiped
        or _surely_after(row.created_at, ref.issued_at)  # not the row the link was made for
        or suppressed
        or _surely_after(row.unsubscribed_at, ref.issued_at)  # left after it was mailed
    ):
        return _void(
            request,
            "void",
            "Link no longer valid",
            "This confirmation link no longer works. Please subscribe again.",
            410,
        )
    adding = subscriptions.asked(session, row.id) and nonce_matches(row.confirm_nonce, ref.nonce)
    if row.state == SubscriberState.active and not adding:  # (adding: another newsletter)
        return _already_subscribed(request, row)
    if not nonce_matches(row.confirm_nonce, ref.nonce):
        return _used(request)
    return ref, row


def _already_subscribed(request: Request, row: Subscriber) -> HTMLResponse:
    WEB_CONFIRM.labels("already").inc()
    settings = get_settings_from(request)
    names = {n.slug: n.name for n in newsletters.all_newsletters(settings)}
    session = object_session(row)
    on = subscriptions.slugs_of(session, row.id) if session is not None else []
    name = ", ".join(names.get(s, s) for s in on) or settings.newsletter_name
    lang = reader_language(request)  # the message is formatted here, in the page's language
    return render(
        request,
        "message.html",
        {
            "title": N_("Already subscribed"),
            "message": _t(lang, N_("%(email)s is already subscribed to %(names)s."))
            % {"email": masked(row.email), "names": name},
        },
    )


@router.get("/confirm/{token}", response_class=HTMLResponse)
def confirm_page(request: Request, token: str, session: SessionDep) -> HTMLResponse:
    """One button that confirms. The GET itself changes nothing: mail scanners that open every
    link (Safe Links and the like) must not confirm a subscription somebody else asked for."""
    found = _confirmable(request, session, token)
    if isinstance(found, HTMLResponse):
        return found
    _ref, row = found
    return render_form(request, "confirm.html", {"token": token, "email": masked(row.email)})


@router.post("/confirm/{token}", response_class=HTMLResponse)
def confirm(
    request: Request,
    token: str,
    session: SessionDep,
    submitted_csrf: Annotated[str, Form(alias=CSRF_FIELD)] = "",
) -> HTMLResponse:
    settings = get_settings_from(request)
    found = _confirmable(request, session, token)
    if isinstance(found, HTMLResponse):
        return found
    ref, row = found
    expired = form_expired(
        request, False, submitted_csrf, N_("This form expired. Open the link in your email again.")
    )
    if expired is not None:
        return expired
    # the nonce in the WHERE makes the use atomic: of two clicks at once, one confirms
    used = session.execute(
        update(Subscriber)
        .where(Subscriber.id == ref.subscriber_id, Subscriber.confirm_nonce == ref.nonce)
        .values(
            state=SubscriberState.active,
            confirmed_at=datetime.now(UTC),
            unsubscribed_at=None,
            wants_daily=True,
            confirm_nonce=None,
        )
        .execution_options(synchronize_session=False)
    )
    if getattr(used, "rowcount", 0) != 1:
        return _used(request)
    subscribers.lift_ops_removal(session, row.email)
    joined = subscriptions.confirm_asked(session, row.id)
    if not subscriptions.slugs_of(session, row.id):  # nothing asked (a row from before)
        joined = subscriptions.join(session, row.id, [newsletters.get(settings).slug])
    session.commit()  # the welcome below reads what this confirmed
    welcome.send_welcomes(settings, row.id, joined)
    WEB_CONFIRM.labels("confirmed").inc()
    names = {n.slug: n.name for n in newsletters.all_newsletters(settings)}
    lang = reader_language(request)
    return render(
        request,
        "message.html",
        {
            "title": N_("Subscription confirmed"),
            "message": _t(lang, N_("Thank you. %(email)s will receive %(names)s."))
            % {
                "email": masked(row.email),
                "names": ", ".join(
                    names.get(s, s) for s in joined or [newsletters.get(settings).slug]
                ),
            },
        },
    )
