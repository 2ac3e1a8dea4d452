"""Building the day's digest: select and claim the items, build the briefing, render, store.

Idempotence and late items: whether the content may still change is the edition lifecycle's
rule (worker/edition/core.py `may_rebuild`): not once its send was claimed, not once an editor
approved it, not for a day the schedule closed (quiet-day skip, missed). Otherwise every call
rebuilds it: its items are released and the window is selected again, so items collected late
(before sending) are included. Rebuilding an unchanged day yields the same files. The build
records the counts (stories, news items, picks); whether a day with none goes out is the
lifecycle's decision too (an empty day is never sent).

The spoken briefing is the audio stage's: the build receives it as a parameter (`briefing`,
wired by the tasks in worker/digest/tasks.py), so this module never imports audio.

Files under `digests/YYYY-MM-DD/`:
- `digest.html`, `digest.txt`: the web copy ("view in browser"); no subscriber token, the
  unsubscribe link points at the neutral subscription page.
- `email.html`, `email.txt`, `email.json`: the compiled email with per-recipient placeholders and
  its metadata (subject, preheader); message.py builds the MIME template from these, so sending
  never recompiles. `email-noaudio.html|txt`: the same edition without listen links and the
  briefing bar, for subscribers who turned audio links off (only when the day has audio).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, replace
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from worker import i18n, newsletters
from worker.collect.text import shorten
from worker.digest.content import (
    PLACEHOLDER_GREETING,
    PLACEHOLDER_PREFERENCES,
    PLACEHOLDER_UNSUBSCRIBE,
    DigestView,
    build_view,
)
from worker.digest.editorial import Editorial
from worker.digest.render import Rendered, line, render
from worker.digest.select import release, select_items, window_for
from worker.digest.weekly import select_week
from worker.edition import core
from worker.edition.lookup import find
from worker.models import Digest, DigestState
from worker.settings import Settings
from worker.storage import Storage, keys

# (session, settings, storage, digest_id) -> the briefing's metadata or None
Briefing = Callable[[Session, Settings, Storage, int], "dict[str, Any] | None"]

log = logging.getLogger(__name__)

NEUTRAL_GREETING = "Good morning."
EMPTY_DAY = core.EMPTY_DAY
SUBJECT_MAX = 110


def make_subject(view: DigestView) -> str:
    """The lead story's headline; a plain dated name on a day without stories. Never CR/LF."""
    if view.lead is not None:
        subject = view.lead.title
    else:
        subject = f"{view.newsletter_name}, {view.date_label}"
    return shorten(line(subject), SUBJECT_MAX)


def web_copy(text: str, view: DigestView) -> str:
    """The email without anything personal: neutral links and greeting."""
    return (
        text.replace(PLACEHOLDER_UNSUBSCRIBE, view.manage_url)
        .replace(PLACEHOLDER_PREFERENCES, view.manage_url)
        .replace(PLACEHOLDER_GREETING, i18n.gettext_for(view.lang).gettext(NEUTRAL_GREETING))
    )


def _get_or_create(session: Session, slug: str, day: date) -> Digest:
    digest = find(session, (slug, day))
    if digest is not None:
        return digest
    try:
        with session.begin_nested():
            digest = Digest(newsletter=slug, date=day, state=DigestState.built)
            session.add(digest)
    except IntegrityError:
        # another builder created it first ((newsletter, date) is unique): use theirs
        digest = find(session, (slug, day))
        assert digest is not None
    return digest


def _build_briefing(
    briefing: Briefing | None,
    session: Session,
    settings: Settings,
    storage: Storage,
    digest_id: int,
) -> dict[str, Any] | None:
    """The audio stage's briefing, when wired; a failure there never costs the day's email."""
    if briefing is None:
        return None
    try:
        return briefing(session, settings, storage, digest_id)
    except Exception:
        log.exception("briefing for digest %s failed; the email goes out without it", digest_id)
        return None


def _store(
    storage: Storage,
    files: keys.EditionFiles,
    rendered: Rendered,
    no_audio: Rendered | None,
    subject: str,
) -> None:
    day = rendered.view.day
    view = rendered.view
    storage.write_bytes(files.email_html, rendered.html.encode("utf-8"))
    storage.write_bytes(files.email_text, rendered.text.encode("utf-8"))
    if no_audio is not None:
        storage.write_bytes(files.no_audio_html, no_audio.html.encode("utf-8"))
        storage.write_bytes(files.no_audio_text, no_audio.text.encode("utf-8"))
    else:
        storage.delete(files.no_audio_html)
        storage.delete(files.no_audio_text)
    meta = {
        "date": day.isoformat(),
        "subject": subject,
        "preheader": view.preheader,
        "briefing_minutes": view.briefing.minutes if view.briefing else None,
        "lang": view.lang,
        "degradations": list(rendered.degradations),
        "browser_url": view.browser_url,
        "stories": [asdict(s) for s in view.stories],
    }
    storage.write_bytes(files.email_meta, json.dumps(meta, indent=2).encode("utf-8"))
    # the web copy is the edition in full: the trimmed email's "more on the site" points here
    storage.write_bytes(files.web_html, web_copy(rendered.full_html, view).encode("utf-8"))
    storage.write_bytes(files.web_text, web_copy(rendered.text, view).encode("utf-8"))


def _stored_meta(storage: Storage, files: keys.EditionFiles) -> dict[str, Any]:
    key = files.email_meta
    if not storage.exists(key):
        return {}
    meta: dict[str, Any] = json.loads(storage.read_bytes(key))
    return meta


def build_digest(
    session: Session,
    settings: Settings,
    storage: Storage,
    day: date,
    *,
    briefing: Briefing | None = None,
) -> Digest:
    """Build (or rebuild, before sending) the digest of Kyiv day `day`; see the module doc."""
    newsletter = newsletters.current(settings)
    digest = _get_or_create(session, newsletter.slug, day)
    never_built = digest.window_end is None
    if not never_built and not core.may_rebuild(
        DigestState(digest.state),
        digest.skip_reason,
        digest.send_claimed_at is not None,
        digest.approved_at is not None,
    ):
        # from the claim on, the email is what subscribers get: never rebuild it
        return digest
    session.flush()
    release(session, digest.id)
    window, previous = window_for(session, settings, day)
    if newsletter.weekly:
        selection = select_week(session, newsletter, window)
    else:
        selection = select_items(session, window, previous, digest.id, newsletter)
    # an editor's order, drops, subject and preheader (lifecycle.edit): dropped items stay
    # claimed by this edition, so they can be added back
    edits = Editorial.from_json(digest.editorial)
    articles, feed_items = edits.stories(selection.articles), edits.items(selection.feed_items)
    # a roundup claims no story, and the briefing speaks an edition's own stories
    wanted = briefing if newsletter.briefing and not newsletter.weekly else None
    spoken = _build_briefing(wanted, session, settings, storage, digest.id)
    seconds = float(spoken["duration_seconds"]) if spoken else None
    view = build_view(settings, day, articles, feed_items, selection.picks, seconds)
    if edits.preheader:
        view = replace(view, preheader=edits.preheader)
    rendered = render(view, settings.digest_html_budget_bytes)
    # readers who turned audio links off get an edition without them (compiled once as well)
    no_audio = (
        render(view.without_audio(), settings.digest_html_budget_bytes) if view.has_audio else None
    )
    subject = edits.subject or make_subject(view)
    _store(storage, keys.edition(newsletter.slug, day), rendered, no_audio, subject)

    digest.subject = subject
    digest.window_start = window.start
    digest.window_end = window.end
    digest.article_count = len(articles)
    digest.feed_item_count = len(feed_items)
    digest.pick_count = len(selection.picks)
    digest.html_bytes = rendered.html_bytes
    digest.degradations = list(rendered.degradations)
    digest.built_at = datetime.now(UTC)
    session.flush()
    if rendered.degradations:
        log.warning("digest %s degraded to fit: %s", day, "; ".join(rendered.degradations))
    return digest


def digest_summary(session: Session, storage: Storage, digest: Digest) -> dict[str, Any]:
    """The JSON-safe result of `digest.build` (the pipeline prints it)."""
    from worker.models import Article

    picks = session.scalars(
        select(Article.id).where(Article.digest_id == digest.id, Article.editors_pick.is_(True))
    ).all()
    return {
        "digest_id": digest.id,
        "date": digest.date.isoformat(),
        "state": digest.state.value,
        "skip_reason": digest.skip_reason,
        "subject": digest.subject,
        "articles": digest.article_count,
        "feed_items": digest.feed_item_count,
        "picks": len(picks),
        "html_bytes": digest.html_bytes,
        "degradations": list(digest.degradations),
        "newsletter": digest.newsletter,
        "briefing_minutes": _stored_meta(storage, keys.edition(digest.newsletter, digest.date)).get(
            "briefing_minutes"
        ),
    }
