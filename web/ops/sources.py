"""Sources and audio: feed health with resume and check-now, the latest articles' audio
(state, engine, duration) with re-speak. The same functions as `digestcast sources ...`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from web.deps import SessionDep, get_settings_from
from web.ops.pages import NoteId, RowId, UserDep, checked_form, page, reason_of, record, signed_in
from worker import db
from worker.models import Article, Audio, Source
from worker.ops.models import OpsAudit, Role

router = APIRouter()
ARTICLES = 40


def _articles(session: Session) -> list[tuple[Article, Audio | None]]:
    rows = session.execute(
        select(Article, Audio)
        .outerjoin(Audio, Audio.article_id == Article.id)
        .order_by(Article.id.desc())
        .limit(ARTICLES)
    ).all()
    return [(a, au) for a, au in rows]


@router.get("/sources", response_class=HTMLResponse, include_in_schema=False)
def sources_page(
    request: Request, session: SessionDep, user: UserDep, note: NoteId = None
) -> HTMLResponse:
    row = session.get(OpsAudit, note) if note else None
    context: dict[str, Any] = {
        "sources": list(session.scalars(select(Source).order_by(Source.name))),
        "articles": _articles(session),
        "note": row if row is not None and row.actor == user.email else None,
    }
    return page(request, "ops/sources.html", context, user)


def _source_name(request: Request, source_id: int) -> str:
    with db.session_scope(get_settings_from(request)) as session:
        source = session.get(Source, source_id)
        if source is None:
            raise HTTPException(404, "no such source")
        return source.name


@router.post("/sources/{source_id}/{action}", include_in_schema=False)
async def source_action(request: Request, source_id: RowId, action: str) -> Response:
    from worker.collect.health import check_source, resume_source

    if action not in ("resume", "check"):
        raise HTTPException(404, "no such action")
    form = await checked_form(request)
    user = signed_in(request, Role.operator)
    name = _source_name(request, source_id)
    settings = get_settings_from(request)
    if action == "resume":
        reason = reason_of(form)
        with db.session_scope(settings) as session:
            ok = resume_source(session, name)
        detail = {"line": "resumed, failures reset" if ok else "was not there"}
    else:  # a check fetches and parses now and stores nothing: no reason needed
        reason = ""
        with db.session_scope(settings) as session:
            result = check_source(session, settings, name)
        ok = bool(result.get("ok"))
        line = f"{result.get('items', 0)} items" if ok else f"error: {result.get('error')}"
        detail = {"line": line, "titles": result.get("titles", [])}
    note = record(request, user, f"source-{action}", name, reason, ok, detail)
    return RedirectResponse(f"/ops/sources?note={note}", status_code=303)


@router.post("/articles/{article_id}/respeak", include_in_schema=False)
async def respeak(request: Request, article_id: RowId) -> Response:
    """Speak the article again (after an engine upgrade or an edit): in this process when
    embedded, else the `audio.synthesize` task with force=True on a worker."""
    form = await checked_form(request)
    user = signed_in(request, Role.operator)
    reason = reason_of(form)
    settings = get_settings_from(request)
    with db.session_scope(settings) as session:
        article = session.get(Article, article_id)
        if article is None:
            raise HTTPException(404, "no such article")
        title = article.title[:200]
    if settings.embedded:
        from worker.audio.synthesis import synthesize_article
        from worker.storage import get_storage

        with db.session_scope(settings) as session:
            result = synthesize_article(
                session, settings, get_storage(settings), article_id, force=True
            )
        ok = result.get("status") == "synthesized"
        line = f"{result.get('status')} by {result.get('engine')}" + (
            f": {result['error']}" if result.get("error") else ""
        )
    else:
        from worker.audio.tasks import synthesize

        synthesize.apply_async(args=(article_id,), kwargs={"force": True})
        ok, line = True, "queued for a worker"
    note = record(request, user, "respeak", title, reason, ok, {"line": line})
    return RedirectResponse(f"/ops/sources?note={note}", status_code=303)
