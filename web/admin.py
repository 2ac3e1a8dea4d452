"""The ops API under /admin/: bearer token from ADMIN_TOKEN, compared in constant time.

Without ADMIN_TOKEN configured every route answers 503 "admin disabled", so a forgotten
setting never leaves the API open.
"""

from __future__ import annotations

import hmac
import logging
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from web.deps import NewsletterQuery, SessionDep, get_settings_from, newsletter_settings
from worker.models import Article, Audio, AudioState, DeliveryState, Digest, Source

log = logging.getLogger(__name__)
bearer = HTTPBearer(auto_error=False, description="ADMIN_TOKEN")


class ErrorOut(BaseModel):
    detail: str


AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "Missing or wrong bearer token"},
    503: {"model": ErrorOut, "description": "Admin API disabled (ADMIN_TOKEN unset)"},
}


def require_admin(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> None:
    token = get_settings_from(request).admin_token
    if token is None or not token.get_secret_value():
        raise HTTPException(503, "admin disabled")
    given = credentials.credentials if credentials is not None else ""
    if not hmac.compare_digest(given.encode(), token.get_secret_value().encode()):
        raise HTTPException(401, "invalid or missing token", headers={"WWW-Authenticate": "Bearer"})


router = APIRouter(prefix="/admin", tags=["admin"], responses=AUTH_RESPONSES)


EMAIL_PATTERN = r"^[^@\s]{1,64}@[^@\s]{1,255}$"


class _ResendBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    date: date
    dry_run: bool = Field(default=False, description="Say what would be sent, send nothing")
    reason: str = Field(default="", max_length=500, description="Recorded with the resend")


class ResendTo(_ResendBase):
    """Resend the day's digest to one address."""

    to: str = Field(max_length=320, pattern=EMAIL_PATTERN)


class ResendFailed(_ResendBase):
    """Resend to the recipients whose send failed."""

    failed: Literal[True]


class ResendAll(_ResendBase):
    """Resend to every recipient of that day."""

    all: Literal[True]


# one of three shapes, so the schema itself says "exactly one of to, failed, all"
ResendIn = ResendTo | ResendFailed | ResendAll


class ResendOut(BaseModel):
    date: date
    dry_run: bool
    result: dict[str, Any]


class CollectOut(BaseModel):
    mode: Literal["embedded", "queued"]
    task_id: str | None = Field(default=None, description="Celery task id when queued")
    sources: int | None = Field(default=None, description="Sources collected (embedded mode)")
    results: list[dict[str, Any]] | None = Field(
        default=None, description="One CollectResult per source (embedded mode)"
    )


class DomainFailures(BaseModel):
    domain: str | None
    failed: int


class DomainRetries(BaseModel):
    domain: str | None
    retried: int
    avg_attempts: float


class ResendRecord(BaseModel):
    id: int
    at: str
    by: str | None
    mode: str
    target: str | None
    reason: str | None
    dry_run: bool
    selected: int


class EditionEventOut(BaseModel):
    at: str
    action: str
    from_: str | None = Field(alias="from")
    to: str
    by: str
    reason: str
    detail: dict[str, Any]


class DeliveryStatusOut(BaseModel):
    date: date
    digest_id: int
    digest_state: str
    state_reason: str | None = Field(default=None, description="Why it is in that state")
    history: list[EditionEventOut] = Field(
        default_factory=list, description="The edition's lifecycle transitions, oldest first"
    )
    subject: str
    total: int
    counts: dict[str, int]
    sent_at: datetime | None
    failing_domains: list[DomainFailures] = Field(default_factory=list)
    slowest_domains: list[DomainRetries] = Field(default_factory=list)
    resends: list[ResendRecord] = Field(default_factory=list)
    complaints: int = Field(default=0, description="Rows with a feedback-loop complaint (ARF)")
    complaint_rate: float = Field(default=0.0, description="complaints / delivered rows")
    complaint_warning: str | None = Field(
        default=None, description="Set when the rate is above COMPLAINT_RATE_WARNING (0.1%)"
    )


class SourceHealthOut(BaseModel):
    id: int
    name: str
    kind: str
    url: str
    healthy: bool
    paused: bool
    consecutive_failures: int
    last_success_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None


class AudioStatusOut(BaseModel):
    articles: int
    without_audio: int
    counts: dict[str, int]
    engines: dict[str, int]
    tts_requests: int


@router.post(
    "/resend",
    response_model=ResendOut,
    dependencies=[Depends(require_admin)],
    responses={
        404: {"model": ErrorOut, "description": "No digest for that day"},
        409: {"model": ErrorOut, "description": "Refused (not a subscriber, send in flight)"},
    },
)
def resend(request: Request, body: ResendIn, newsletter: NewsletterQuery = None) -> ResendOut:
    """Resend a day's digest (same options as `digestcast resend`)."""
    from worker.edition.lifecycle import resend as lifecycle_resend

    settings = newsletter_settings(request, newsletter)
    result = lifecycle_resend(
        settings,
        body.date,
        to=body.to if isinstance(body, ResendTo) else None,
        failed=isinstance(body, ResendFailed),
        everyone=isinstance(body, ResendAll),
        dry_run=body.dry_run,
        requested_by="admin-api",
        reason=body.reason,
    )
    refused = result.get("refused")
    if refused:
        # no digest that day: 404; anything else (not a subscriber, a send in flight): 409
        raise HTTPException(404 if "digest_id" not in result else 409, str(refused))
    return ResendOut(date=body.date, dry_run=body.dry_run, result=dict(result))


@router.post("/collect", response_model=CollectOut, dependencies=[Depends(require_admin)])
def collect(request: Request) -> CollectOut:
    """Collect every source now: in-process when embedded, else queue `collect.all`."""
    settings = get_settings_from(request)
    if settings.embedded:
        from worker.collect.runner import run_collect

        results = run_collect(settings)
        return CollectOut(mode="embedded", sources=len(results), results=results)
    from worker.celery_app import app as celery_app

    task = celery_app.send_task("collect.all")
    return CollectOut(mode="queued", task_id=str(task.id))


@router.get(
    "/digests/{day}/status",
    response_model=DeliveryStatusOut,
    dependencies=[Depends(require_admin)],
    responses={404: {"model": ErrorOut, "description": "No digest for that day"}},
)
def digest_status(
    request: Request, day: date, session: SessionDep, newsletter: NewsletterQuery = None
) -> DeliveryStatusOut:
    slug = newsletter_settings(request, newsletter).newsletter_slug
    digest = session.scalar(select(Digest).where(Digest.newsletter == slug, Digest.date == day))
    if digest is None:
        raise HTTPException(404, "no digest for that day")
    from worker.delivery.complaints import rate
    from worker.delivery.resend import delivery_status

    details = delivery_status(session, day, slug)  # counts from the ledger's counters
    counts = {state.value: details["counts"].get(state.value, 0) for state in DeliveryState}
    complaints = rate(session, get_settings_from(request), digest.id)
    from worker.edition.lifecycle import history

    return DeliveryStatusOut(
        date=day,
        digest_id=digest.id,
        digest_state=digest.state.value,
        state_reason=digest.skip_reason,
        history=[EditionEventOut.model_validate(e) for e in history(session, digest.id)],
        subject=digest.subject,
        total=sum(counts.values()),
        counts=counts,
        sent_at=digest.sent_at,
        failing_domains=[DomainFailures(**d) for d in details.get("failing_domains", [])],
        slowest_domains=[DomainRetries(**d) for d in details.get("slowest_domains", [])],
        resends=[ResendRecord(**r) for r in details.get("resends", [])],
        complaints=complaints["complaints"],
        complaint_rate=complaints["complaint_rate"],
        complaint_warning=complaints["complaint_warning"],
    )


# ---------------------------------------------------------------- the edition's lifecycle
class TransitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="", max_length=500, description="Why (recorded)")
    by: str = Field(default="admin-api", max_length=200, description="Who asks (recorded)")


class SendIn(TransitionIn):
    force: bool = Field(
        default=False, description="Send a quiet or closed day against the policy (never empty)"
    )


class OutcomeOut(BaseModel):
    action: str
    ok: bool
    day: date | None
    digest_id: int | None
    from_state: str | None
    to_state: str | None
    reason: str
    detail: dict[str, Any]
    line: str


TRANSITION_RESPONSES: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorOut, "description": "Refused: the one-line reason (e.g. already paused)"},
    404: {"model": ErrorOut, "description": "No such newsletter"},
}


def _outcome(outcome: Any) -> OutcomeOut:
    if not outcome.ok:
        raise HTTPException(409, outcome.line())
    return OutcomeOut(**outcome.as_dict())


@router.post(
    "/digests/{day}/send",
    response_model=OutcomeOut,
    dependencies=[Depends(require_admin)],
    responses=TRANSITION_RESPONSES,
)
def send_edition(
    request: Request, day: date, body: SendIn, newsletter: NewsletterQuery = None
) -> OutcomeOut:
    """Start the day's send through the lifecycle (as `digestcast send`); a skipped day
    answers 200 with `to_state` `skipped` and the reason."""
    from worker.digest.tasks import builder
    from worker.edition import lifecycle

    settings = newsletter_settings(request, newsletter)
    outcome = lifecycle.start(
        settings, day, by=body.by, reason=body.reason, force=body.force, builder=builder()
    )
    return _outcome(outcome)


@router.post(
    "/digests/{day}/{action}",
    response_model=OutcomeOut,
    dependencies=[Depends(require_admin)],
    responses=TRANSITION_RESPONSES,
)
def transition(
    request: Request,
    day: date,
    action: Literal["pause", "resume", "cancel", "approve"],
    body: TransitionIn,
    newsletter: NewsletterQuery = None,
) -> OutcomeOut:
    """Pause, resume, cancel or approve the day's edition (as the CLI commands of those names)."""
    from worker.digest.tasks import builder
    from worker.edition import lifecycle

    settings = newsletter_settings(request, newsletter)
    if action == "approve":
        return _outcome(
            lifecycle.approve(settings, day, by=body.by, reason=body.reason, builder=builder())
        )
    move = {"pause": lifecycle.pause, "resume": lifecycle.resume, "cancel": lifecycle.cancel}
    return _outcome(move[action](settings, day, by=body.by, reason=body.reason))


@router.get("/sources", response_model=list[SourceHealthOut], dependencies=[Depends(require_admin)])
def sources(session: SessionDep) -> list[SourceHealthOut]:
    return [
        SourceHealthOut(
            id=s.id,
            name=s.name,
            kind=s.kind.value,
            url=s.url,
            healthy=s.consecutive_failures == 0 and s.paused_at is None,
            paused=s.paused_at is not None,
            consecutive_failures=s.consecutive_failures,
            last_success_at=s.last_success_at,
            last_error=s.last_error,
            last_error_at=s.last_error_at,
        )
        for s in session.scalars(select(Source).order_by(Source.name))
    ]


@router.get("/audio", response_model=AudioStatusOut, dependencies=[Depends(require_admin)])
def audio(session: SessionDep) -> AudioStatusOut:
    found = {
        AudioState(state).value: int(n)
        for state, n in session.execute(
            select(Audio.state, func.count()).group_by(Audio.state)
        ).all()
    }
    engines = {
        str(engine): int(n)
        for engine, n in session.execute(
            select(Audio.engine, func.count())
            .where(Audio.engine.is_not(None))
            .group_by(Audio.engine)
        ).all()
    }
    articles = int(session.scalar(select(func.count()).select_from(Article)) or 0)
    with_audio = int(session.scalar(select(func.count()).select_from(Audio)) or 0)
    requests = int(session.scalar(select(func.coalesce(func.sum(Audio.requests), 0))) or 0)
    return AudioStatusOut(
        articles=articles,
        without_audio=max(0, articles - with_audio),
        counts={state.value: found.get(state.value, 0) for state in AudioState},
        engines=engines,
        tts_requests=requests,
    )
