"""The listening pages: one article's player (`/listen/{id}`) and a whole edition played story
after story (`/edition/{day}`). The player itself is static/player.js over a plain <audio>."""

from __future__ import annotations

import json
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from web.deps import SessionDep, get_settings_from, render
from web.pages import (
    _,
    edition_page,
    exists,
    format_duration,
    media_url,
    not_found,
    paragraphs,
    safe_link,
    transcript,
)
from web.params import parse_id
from worker.edition.lookup import DEFAULT_SLUG
from worker.models import Article, Digest
from worker.storage import Storage, StorageError, get_storage, keys

router = APIRouter(include_in_schema=False)

DESCRIPTION_CHARS = 200


def paragraph_times(storage: Storage, prefix: str, count: int) -> list[list[float]] | None:
    """Each transcript paragraph's [start, end] in seconds, from `audio.json`, when it matches.

    The audio stage writes one span per spoken paragraph; a different count (an older file, a
    transcript from the article's HTML) means the spans cannot be trusted, so none are given."""
    key = keys.article(prefix).audio.meta
    if not exists(storage, key):
        return None
    try:
        spans = json.loads(storage.read_bytes(key)).get("paragraph_times")
    except (StorageError, OSError, ValueError, AttributeError):
        return None
    if not isinstance(spans, list) or len(spans) != count:
        return None
    out: list[list[float]] = []
    for span in spans:
        if not (
            isinstance(span, list)
            and len(span) == 2
            and all(isinstance(x, int | float) and x >= 0 for x in span)
        ):
            return None
        out.append([float(span[0]), float(span[1])])
    return out


def describe(text: str) -> str:
    text = " ".join(text.split())
    if len(text) <= DESCRIPTION_CHARS:
        return text
    return text[: DESCRIPTION_CHARS - 1].rsplit(" ", 1)[0] + "…"


@router.get("/listen/{article_id}", response_class=HTMLResponse)
def listen(request: Request, article_id: str, session: SessionDep) -> HTMLResponse:
    found_id = parse_id(article_id)
    article = session.get(Article, found_id) if found_id is not None else None
    if article is None:
        return not_found(request, "There is no such article.")
    storage = get_storage(get_settings_from(request))
    prefix = article.storage_prefix
    files = keys.article(prefix).audio
    audio_key, vtt_key = files.mp3, files.captions
    has_audio = exists(storage, audio_key)
    duration = article.audio.duration_seconds if article.audio is not None else None
    # what the voice said when the audio stage stored it, else the article's text
    spoken = transcript(storage, files.transcript)
    shown = spoken or [
        article.title,
        *(paragraphs(article.body_html) or paragraphs(article.summary)),
    ]
    digest = session.get(Digest, article.digest_id) if article.digest_id is not None else None
    return render(
        request,
        "listen.html",
        {
            "article": article,
            "audio_url": media_url(audio_key) if has_audio else None,
            "vtt_url": media_url(vtt_key) if has_audio and exists(storage, vtt_key) else None,
            "duration": format_duration(duration),
            "paragraphs": shown,
            "paragraph_times": paragraph_times(storage, prefix, len(shown)) if spoken else None,
            "article_url": safe_link(article.url),
            "language": article.language,
            "description": describe(" ".join(paragraphs(article.summary)) or article.title),
            "cover_url": "/static/cover.png",
            "edition_day": digest.date.isoformat() if digest is not None else None,
        },
        lang=article.language or None,  # the story's language: its labels and its date
    )


@dataclass(frozen=True)
class Story:
    id: int
    title: str
    src: str
    vtt: str | None
    language: str
    duration: str | None


@router.get("/edition/{day}", response_class=HTMLResponse)
def edition(request: Request, day: str, session: SessionDep) -> HTMLResponse:
    """Every story of a day's edition that has audio, in the email's order, played in a row."""
    return _edition(request, session, day, DEFAULT_SLUG)


@router.get("/edition/{slug}/{day}", response_class=HTMLResponse)
def newsletter_edition(request: Request, slug: str, day: str, session: SessionDep) -> HTMLResponse:
    """Another newsletter's whole edition, in that newsletter's language."""
    return _edition(request, session, day, slug)


def _edition(request: Request, session: Session, day: str, slug: str) -> HTMLResponse:
    found = edition_page(request, session, day, slug, _("There is no edition for that day."))
    if isinstance(found, HTMLResponse):
        return found
    digest = found.digest
    storage = get_storage(get_settings_from(request))
    articles = session.scalars(
        select(Article)
        .where(Article.digest_id == digest.id)
        .order_by(Article.published_at.desc(), Article.id.desc())
    ).all()
    stories = []
    for a in articles:
        files = keys.article(a.storage_prefix).audio
        mp3, vtt = files.mp3, files.captions
        if a.audio is None or not exists(storage, mp3):
            continue
        stories.append(
            Story(
                a.id,
                a.title,
                media_url(mp3),
                media_url(vtt) if exists(storage, vtt) else None,
                a.language,
                format_duration(a.audio.duration_seconds),
            )
        )
    return render(request, "edition.html", found.context(stories=stories), lang=found.lang)
