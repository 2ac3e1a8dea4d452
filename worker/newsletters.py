"""Newsletters as data: the `[[newsletter]]` tables of NEWSLETTERS (or of the settings file).

Each newsletter has its own editions (keyed by (slug, Kyiv date) in worker/edition/lookup.py),
schedule, language, sources, sender and List-Id. Without any table there is exactly one,
made of the flat settings (NEWSLETTER_NAME, SEND_TIME, FROM_ADDRESS, LIST_ID...) under the
slug `daily`, which is also where migration 0009 put every subscriber and edition of an
install from before.

`scoped(settings, slug)` is how the rest of the code meets a newsletter: a copy of the
settings whose NEWSLETTER_NAME, SEND_TIME, FROM_ADDRESS, LIST_ID and language are that
newsletter's, so the builders, the message and the delivery need no newsletter argument.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from datetime import date, time, timedelta
from pathlib import Path
from typing import Any, Literal

from worker.settings import Settings

DEFAULT_SLUG = "daily"
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
SOURCE_KINDS = ("articles", "news-feed", "editors-picks")
LANGUAGES = ("en", "uk")  # the languages with a complete catalogue (worker/i18n.py)


class NewsletterError(ValueError):
    """A newsletters table that cannot be used; the message names the entry and the key."""


@dataclass(frozen=True)
class Newsletter:
    slug: str
    name: str
    language: str | None  # None: the articles' common language (the single default newsletter)
    send_time: time
    weekday: int | None = None  # None: daily; 0 (Monday) .. 6: weekly on that day
    source_kinds: tuple[str, ...] = ()  # empty: every kind
    source_languages: tuple[str, ...] = ()  # empty: every language
    from_address: str | None = None
    list_id: str | None = None
    templates: Path | None = None  # a folder whose files override templates/email/
    briefing: bool = True
    top: int = 10  # weekly: stories picked from the week
    rank_by: Literal["editors", "listens"] = "editors"

    @property
    def weekly(self) -> bool:
        return self.weekday is not None

    def schedule_line(self, lang: str = "en") -> str:
        """`daily at 07:00`, `щотижня, субота, о 09:00`: the schedule in `lang` (Babel's day)."""
        from babel.dates import get_day_names

        from worker.i18n import gettext_for

        at = self.send_time.strftime("%H:%M")
        labels = gettext_for(lang)
        if self.weekday is None:
            return labels.gettext("daily at %(time)s") % {"time": at}
        day = get_day_names("wide", locale=lang)[self.weekday]
        return labels.gettext("weekly on %(day)s at %(time)s") % {"day": day, "time": at}

    def publishes_on(self, day: date) -> bool:
        return self.weekday is None or day.weekday() == self.weekday

    def last_issue_on_or_before(self, day: date) -> date:
        if self.weekday is None:
            return day
        return day - timedelta(days=(day.weekday() - self.weekday) % 7)


def _parse_schedule(text: str, where: str) -> tuple[time, int | None]:
    parts = text.lower().split()
    try:
        if len(parts) == 2 and parts[0] == "daily":
            return time.fromisoformat(parts[1]), None
        if len(parts) == 3 and parts[0] == "weekly" and parts[1] in WEEKDAYS:
            return time.fromisoformat(parts[2]), WEEKDAYS.index(parts[1])
    except ValueError:
        pass
    raise NewsletterError(
        f"{where}: schedule {text!r} is neither 'daily HH:MM' nor 'weekly <weekday> HH:MM'"
    )


def _strings(value: Any, allowed: tuple[str, ...], where: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else list(value or [])
    for item in items:
        if item not in allowed:
            raise NewsletterError(f"{where}: {item!r} is not one of {', '.join(allowed)}")
    return tuple(items)


def _entry(raw: dict[str, Any], index: int, folder: Path) -> Newsletter:
    where = f"newsletter #{index + 1}"
    slug = str(raw.get("slug", ""))
    if not slug or not (slug.isascii() and all(c.isalnum() or c == "-" for c in slug)):
        raise NewsletterError(f"{where}: `slug` must be letters, digits and '-' (got {slug!r})")
    where = f"newsletter {slug!r}"
    if not raw.get("name"):
        raise NewsletterError(f"{where}: `name` is required")
    language = str(raw.get("language", "en"))
    if language not in LANGUAGES:
        raise NewsletterError(f"{where}: language {language!r} has no catalogue ({LANGUAGES})")
    at, weekday = _parse_schedule(str(raw.get("schedule", "daily 07:00")), where)
    rank_by = raw.get("rank_by", "editors")
    if rank_by not in ("editors", "listens"):
        raise NewsletterError(f"{where}: rank_by must be 'editors' or 'listens'")
    templates = raw.get("templates")
    return Newsletter(
        slug=slug,
        name=str(raw["name"]),
        language=language,
        send_time=at,
        weekday=weekday,
        source_kinds=_strings(raw.get("source_kinds"), SOURCE_KINDS, where),
        source_languages=_strings(raw.get("source_languages"), LANGUAGES, where),
        from_address=raw.get("from_address"),
        list_id=raw.get("list_id"),
        templates=(folder / templates) if templates else None,
        briefing=bool(raw.get("briefing", True)),
        top=max(1, int(raw.get("top", 10))),
        rank_by=rank_by,
    )


def _tables(settings: Settings) -> tuple[list[dict[str, Any]], Path]:
    path = settings.newsletters
    if path is None:
        path = Path(os.environ.get("DIGESTCAST_CONFIG", "digestcast.toml"))
        if not path.is_file():
            return [], path.parent
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise NewsletterError(f"cannot read newsletters from {path}: {exc}") from exc
    return list(data.get("newsletter", [])), path.parent


def default(settings: Settings) -> Newsletter:
    """The one newsletter of a setup without a table: exactly the flat settings."""
    return Newsletter(
        slug=DEFAULT_SLUG,
        name=settings.newsletter_name,
        language=settings.digest_language,
        send_time=settings.send_time,
        from_address=settings.from_address,
        list_id=settings.list_id,
    )


def all_newsletters(settings: Settings) -> list[Newsletter]:
    """Every newsletter, the first being the default of the CLI and the pages."""
    tables, folder = _tables(settings)
    if not tables:
        return [default(settings)]
    found = [_entry(raw, i, folder) for i, raw in enumerate(tables)]
    slugs = [n.slug for n in found]
    if len(set(slugs)) != len(slugs):
        raise NewsletterError(f"newsletter slugs repeat: {slugs}")
    return found


def get(settings: Settings, slug: str | None = None) -> Newsletter:
    """The newsletter `slug`, else the one the settings address, else the first."""
    every = all_newsletters(settings)
    wanted = slug or settings.newsletter_slug
    if not wanted:
        return every[0]
    for newsletter in every:
        if newsletter.slug == wanted:
            return newsletter
    raise NewsletterError(f"no newsletter {wanted!r} (known: {', '.join(n.slug for n in every)})")


def scoped(settings: Settings, slug: str | Newsletter | None = None) -> Settings:
    """The settings as seen by one newsletter's editions (see the module doc)."""
    newsletter = slug if isinstance(slug, Newsletter) else get(settings, slug)
    return settings.model_copy(
        update={
            "newsletter_slug": newsletter.slug,
            "newsletter_name": newsletter.name,
            "send_time": newsletter.send_time,
            "from_address": newsletter.from_address or settings.from_address,
            "list_id": newsletter.list_id or settings.list_id,
            "digest_language": newsletter.language or settings.digest_language,
        }
    )


def current(settings: Settings) -> Newsletter:
    return get(settings, settings.newsletter_slug or None)


def edition_key(settings: Settings, day: date) -> tuple[str, date]:
    """How the lifecycle names the edition of `day` of the newsletter these settings address."""
    return (current(settings).slug, day)


def for_edition(settings: Settings, digest_id: int) -> Settings:
    """The settings scoped to the newsletter of digest `digest_id` (what workers carry)."""
    from sqlalchemy import select

    from worker import db
    from worker.models import Digest

    with db.session_scope(settings) as session:
        slug = session.scalar(select(Digest.newsletter).where(Digest.id == digest_id))
    try:
        return scoped(settings, slug or DEFAULT_SLUG)
    except NewsletterError:
        # an edition of a newsletter since removed from the table: its own name is gone, the
        # rest (sender, List-Id) falls back to the first newsletter's, its slug stays its own
        return settings.model_copy(update={"newsletter_slug": slug or DEFAULT_SLUG})
