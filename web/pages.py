"""Listening and reading pages: an article's player, a day's briefing, the digest archive."""

from __future__ import annotations

import io
import json
import logging
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from web.deps import SessionDep, get_settings_from, public_redirect, render
from web.page_language import gettext as _t
from web.page_language import newsletter_page
from web.params import parse_day
from web.security import CSP_HEADER, DIGEST_CSP
from worker import htmltext, newsletters
from worker.edition.lookup import DEFAULT_SLUG, PUBLISHED, edition_path
from worker.models import Article, Digest
from worker.storage import Storage, StorageError, get_storage, keys

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

_BLOCKS = {"p", "div", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "br", "tr"}


def paragraphs(html: str) -> list[str]:
    """Paragraph texts of (already sanitized) article HTML; the page escapes them again."""
    return htmltext.paragraphs(html, _BLOCKS)


def safe_link(url: str | None) -> str | None:
    """Only http(s) links reach an href: a feed's `javascript:` URL must never be clickable."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    return url.strip() if parts.scheme in ("http", "https") and parts.netloc else None


def format_duration(seconds: float | None) -> str | None:
    if seconds is None or seconds <= 0:
        return None
    total = max(1, int(seconds))  # floored, as the browser's player shows it
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def media_url(key: str) -> str:
    return "/media/" + quote(key, safe="/")


def exists(storage: Storage, key: str) -> bool:
    try:
        return storage.exists(key)
    except (StorageError, OSError):
        return False


def _mp3_duration(storage: Storage, key: str) -> float | None:
    try:
        from mutagen.mp3 import MP3

        info = MP3(io.BytesIO(storage.read_bytes(key))).info  # type: ignore[no-untyped-call]
        return float(info.length) if info is not None else None
    except Exception:  # a page must render even when the file is odd
        log.warning("could not read the duration of %s", key, exc_info=True)
        return None


def transcript(storage: Storage, key: str) -> list[str] | None:
    """Paragraphs of a stored transcript (`audio.txt`: what was spoken, blank-line separated)."""
    if not exists(storage, key):
        return None
    try:
        text = storage.read_bytes(key).decode("utf-8", errors="replace")
    except (StorageError, OSError):
        return None
    return [" ".join(p.split()) for p in text.split("\n\n") if p.strip()] or None


def _json_number(storage: Storage, key: str, field: str) -> float | None:
    if not exists(storage, key):
        return None
    try:
        value = json.loads(storage.read_bytes(key)).get(field)
    except (StorageError, OSError, ValueError, AttributeError):
        return None
    return float(value) if isinstance(value, int | float) else None


def listed_editions() -> Select[Digest]:
    """Editions a reader may browse: the ones that were (or are being) sent."""
    return select(Digest).where(Digest.state.in_(PUBLISHED))


def published_edition(session: Session, day: str, slug: str = DEFAULT_SLUG) -> Digest | None:
    """The edition of a day (of newsletter `slug`) named in a URL, if a reader may see it."""
    parsed = parse_day(day)
    if parsed is None or len(slug) > 64:
        return None
    return session.scalar(listed_editions().where(Digest.newsletter == slug, Digest.date == parsed))


@dataclass(frozen=True)
class EditionPage:
    """A published edition named in a URL, and its newsletter's page context (newsletter_page)."""

    digest: Digest
    page: dict[str, object]

    @property
    def lang(self) -> str:
        return str(self.page["lang"])

    def context(self, **more: object) -> dict[str, object]:
        """What every page of one edition has: the edition, its day, its path in URLs, the
        newsletter's labels, and `more`."""
        digest = self.digest
        path = edition_path(digest.newsletter, digest.date)
        return {"digest": digest, "day": digest.date, "path": path, **self.page, **more}


def edition_page(
    request: Request, session: Session, day: str, slug: str, missing: str
) -> EditionPage | HTMLResponse:
    """The published edition of `day` (newsletter `slug`), or the 404 page that says `missing`
    (an English label marked with `_()`) in the newsletter's language."""
    page = newsletter_page(get_settings_from(request), slug)
    digest = published_edition(session, day, slug)
    if digest is None:
        return not_found(request, missing, str(page["lang"]))
    return EditionPage(digest, page)


def not_found(request: Request, what: str, lang: str | None = None) -> HTMLResponse:
    """`what` is an English label (marked with `_()` where it is written); shown in `lang`."""
    from web.page_language import reader_language

    lang = lang or reader_language(request)
    context = {"title": _t(lang, _("Not found")), "message": _t(lang, what)}
    return render(request, "message.html", context, status_code=404, lang=lang)


def _(message: str) -> str:  # marks a label for `make messages`; not_found translates it
    return message


@dataclass(frozen=True)
class Listing:
    id: int
    title: str
    duration: str | None
    has_audio: bool


@router.get("/briefing/{day}", response_class=HTMLResponse)
def briefing(request: Request, day: str, session: SessionDep) -> HTMLResponse:
    return _briefing(request, session, day, DEFAULT_SLUG)


@router.get("/briefing/{slug}/{day}", response_class=HTMLResponse)
def newsletter_briefing(request: Request, slug: str, day: str, session: SessionDep) -> HTMLResponse:
    """Another newsletter's briefing (worker/edition/lookup.py edition_path)."""
    return _briefing(request, session, day, slug)


def _briefing(request: Request, session: Session, day: str, slug: str) -> HTMLResponse:
    found = edition_page(request, session, day, slug, _("There is no briefing for that day."))
    if isinstance(found, HTMLResponse):
        return found
    digest = found.digest
    storage = get_storage(get_settings_from(request))
    files = keys.edition(digest.newsletter, digest.date)
    mp3, vtt = files.briefing.mp3, files.briefing.captions
    has_audio = exists(storage, mp3)
    articles = session.scalars(
        select(Article).where(Article.digest_id == digest.id).order_by(Article.published_at.desc())
    ).all()
    listings = [
        Listing(
            a.id,
            a.title,
            format_duration(a.audio.duration_seconds if a.audio else None),
            a.audio is not None and a.audio.duration_seconds is not None,
        )
        for a in articles
    ]
    context = found.context(
        audio_url=media_url(mp3) if has_audio else None,
        vtt_url=media_url(vtt) if has_audio and exists(storage, vtt) else None,
        duration=format_duration(
            _json_number(storage, files.briefing.meta, "duration_seconds")
            or (_mp3_duration(storage, mp3) if has_audio else None)
        ),
        transcript=transcript(storage, files.briefing.transcript),
        articles=listings,
        has_digest_html=exists(storage, files.web_html),
    )
    return render(request, "briefing.html", context, lang=found.lang)


@router.get("/archive/", include_in_schema=False)
@router.get("/archive/{day}", include_in_schema=False)
def archive_alias(request: Request, day: str | None = None) -> Response:
    """`/archive/D` (the link the podcast feed and the briefing's ID3 tag carry) -> its page.

    The target is built from a parsed date only, so this can never redirect off the site."""
    if day is None:
        return public_redirect(request, "/digests/")
    parsed = parse_day(day)
    if parsed is None:
        return Response("not found\n", status_code=404, media_type="text/plain")
    return public_redirect(request, f"/briefing/{parsed.isoformat()}")


@router.get("/digests/", response_class=HTMLResponse)
def archive(request: Request, session: SessionDep) -> HTMLResponse:
    """Every newsletter's published editions, newest first."""
    return _archive(request, session, None)


@router.get("/digests/{slug}/", response_class=HTMLResponse)
def newsletter_archive(request: Request, slug: str, session: SessionDep) -> HTMLResponse:
    """One newsletter's published editions."""
    return _archive(request, session, slug)


def _archive(request: Request, session: Session, slug: str | None) -> HTMLResponse:
    query = listed_editions().order_by(Digest.date.desc(), Digest.newsletter).limit(1000)
    if slug is not None:
        query = query.where(Digest.newsletter == slug)
    settings = get_settings_from(request)
    names = {n.slug: n.name for n in newsletters.all_newsletters(settings)}
    context: dict[str, object] = {
        "digests": session.scalars(query).all(),
        "path": edition_path,
        "names": names if slug is None else {},
    }
    # one newsletter's archive speaks its language; the all-newsletters one, the reader's
    page = newsletter_page(settings, slug) if slug is not None else {}
    context.update(page)
    return render(request, "archive.html", context, lang=str(page.get("lang") or "") or None)


@router.get("/digests/{day}", response_model=None)
def archived_digest(request: Request, day: str, session: SessionDep) -> Response:
    return _archived(request, session, day, DEFAULT_SLUG)


@router.get("/digests/{slug}/{day}", response_model=None)
def newsletter_digest(request: Request, slug: str, day: str, session: SessionDep) -> Response:
    return _archived(request, session, day, slug)


def _archived(request: Request, session: Session, day: str, slug: str) -> Response:
    missing = _("There is no digest for that day.")
    found = edition_page(request, session, day, slug, missing)
    if isinstance(found, HTMLResponse):
        return found
    storage = get_storage(get_settings_from(request))
    key = keys.edition(found.digest.newsletter, found.digest.date).web_html
    if not exists(storage, key):
        return not_found(request, missing, found.lang)
    # the web copy the digest stage stores has no subscriber token in it
    return HTMLResponse(
        storage.read_bytes(key),
        headers={CSP_HEADER: DIGEST_CSP, "Cache-Control": "public, max-age=300"},
    )
