"""Editing an edition before it goes out (editors and above): the lead story, the order,
stories and news items dropped or added back, the subject line and the preheader. Saving
calls lifecycle.edit, which refuses once the send is claimed or the edition approved, and
rebuilds at once: the preview, the size and the text part follow."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

import web.ops.chosen as chosen
from web.deps import SessionDep
from web.ops.pages import NoteId, UserDep, checked_form, page, reason_of, record, require, signed_in
from worker.digest.editorial import Editorial
from worker.digest.select import lead_first
from worker.edition.lookup import find
from worker.models import Article, Digest, FeedItem
from worker.ops import today
from worker.ops.models import OpsAudit, Role

router = APIRouter()


def _content(session: Session, digest: Digest) -> tuple[list[Article], list[FeedItem]]:
    """Every story and news item the edition holds (dropped ones included), stories in the
    order the email has them: the editor's, else the build's (lead first, then newest)."""
    stories = list(
        session.scalars(
            select(Article)
            .where(Article.digest_id == digest.id, Article.editors_pick.is_(False))
            .order_by(Article.published_at.desc(), Article.id.desc())
        )
    )
    items = list(
        session.scalars(
            select(FeedItem)
            .where(FeedItem.digest_id == digest.id)
            .order_by(FeedItem.published_at.desc(), FeedItem.id.desc())
        )
    )
    return Editorial.from_json(digest.editorial).ordered(lead_first(stories)), items


@router.get("/editions/{day}/edit", response_class=HTMLResponse, include_in_schema=False)
def edit_page(
    request: Request, day: date, session: SessionDep, user: UserDep, note: NoteId = None
) -> HTMLResponse:
    require(user, Role.editor)
    digest = find(session, day)
    if digest is None or today.state_of(digest) is None:
        raise HTTPException(404, f"no edition of {day.isoformat()} has been built")
    stories, items = _content(session, digest)
    row = session.get(OpsAudit, note) if note else None
    context: dict[str, Any] = {
        "day": day.isoformat(),
        "digest": digest,
        "edits": Editorial.from_json(digest.editorial),
        "stories": stories,
        "items": items,
        "allowed": today.allowed(digest),
        "editable": digest.send_claimed_at is None and digest.approved_at is None,
        "note": row if row is not None and row.actor == user.email else None,
    }
    return page(request, "ops/edit.html", context, user)


def _number(text: str, default: int) -> int:
    try:
        return int(text)
    except ValueError:
        return default


def editorial_from_form(form: dict[str, str], story_ids: list[int]) -> Editorial:
    """The form's positions (1, 2, ...; ties keep the current order), lead, drops, texts."""
    lead = _number(form.get("lead", ""), -1)
    ranked = sorted(
        enumerate(story_ids),
        key=lambda pair: (
            pair[1] != lead,
            _number(form.get(f"pos-{pair[1]}", ""), pair[0] + 1),
            pair[0],
        ),
    )
    return Editorial.from_json(
        {
            "order": [story_id for _, story_id in ranked],
            "dropped_stories": [i for i in story_ids if form.get(f"drop-{i}")],
            "dropped_items": [
                int(k.removeprefix("dropitem-"))
                for k in form
                if k.startswith("dropitem-") and k.removeprefix("dropitem-").isdigit()
            ],
            "subject": form.get("subject", ""),
            "preheader": form.get("preheader", ""),
        }
    )


@router.post("/editions/{day}/edit", include_in_schema=False)
async def save(request: Request, day: date) -> Response:
    from worker import db
    from worker.digest.tasks import builder
    from worker.edition import lifecycle

    form = await checked_form(request)
    user = signed_in(request, Role.editor)
    reason = reason_of(form)
    settings = chosen.settings_for(request)
    with db.session_scope(settings) as session:
        digest = find(session, chosen.key(request, day))
        if digest is None:
            raise HTTPException(404, f"no edition of {day.isoformat()}")
        story_ids = [a.id for a in _content(session, digest)[0]]
    edits = editorial_from_form(form, story_ids).as_json()
    outcome = lifecycle.edit(settings, day, edits, builder=builder(), by=user.email, reason=reason)
    detail = {"line": outcome.line(), "editorial": edits}
    note = record(request, user, "edition-edit", day.isoformat(), reason, outcome.ok, detail)
    return RedirectResponse(chosen.edition_url(request, day, "/edit", note), 303)
