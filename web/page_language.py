"""Which language a page speaks, and the Jinja environment that speaks it.

A page about one newsletter (its briefing, archive, edition, leave pages) speaks that
newsletter's language; a page about the reader (subscribe, confirm, preferences) follows the
browser's Accept-Language among the languages with a catalogue, else English. Labels come from
the same catalogues as the emails (worker/i18n.py); dates through Babel.

One environment per language, built once per app: gettext is installed on the environment, so
sharing one between threads that serve different languages would mix them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo

from babel import Locale
from fastapi import Request
from jinja2 import Environment, FileSystemLoader, select_autoescape

from worker import i18n, newsletters
from worker.paths import templates_dir
from worker.settings import Settings

DEFAULT = "en"


def supported(lang: str | None) -> str:
    return lang if lang in newsletters.LANGUAGES else DEFAULT


def newsletter_language(settings: Settings, slug: str | None) -> str:
    """The language of newsletter `slug` (an unknown slug: the default newsletter's)."""
    try:
        newsletter = newsletters.get(settings, slug)
    except newsletters.NewsletterError:
        newsletter = newsletters.get(settings, None)
    return supported(newsletter.language or settings.digest_language)


def reader_language(request: Request) -> str:
    """The best of the catalogues for the browser's Accept-Language (`uk-UA,uk;q=0.9,en;q=0.8`)."""
    header = request.headers.get("accept-language", "")[:512]  # a header is not a work order
    wanted: list[tuple[float, str]] = []
    for position, part in enumerate(header.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and quality > 0:
            wanted.append((-quality + position * 1e-6, tag.strip().replace("-", "_")))
    preferred = [tag for _, tag in sorted(wanted)]
    found = Locale.negotiate(preferred, list(newsletters.LANGUAGES), sep="_") if preferred else None
    return supported(found.language if found is not None else None)


def local_time(moment: datetime | None, zone: tzinfo, fmt: str = "%d %B %Y, %H:%M") -> str:
    """`moment` in the newsroom's zone (naive values are UTC, as the database stores them)."""
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone).strftime(fmt)


def make_environment(lang: str = "en") -> Environment:
    """The page templates in `lang` (`environment` picks it per page)."""
    # autoescape for every template name we use (.html and .html.j2); text mail is .txt.j2
    env = Environment(
        loader=FileSystemLoader(templates_dir() / "web"),
        autoescape=select_autoescape(["html", "html.j2", "xml"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["local_time"] = local_time
    return localize(env, lang)


def localize(env: Environment, lang: str) -> Environment:
    """`env` speaking `lang`: `_()` from the catalogue, `|day` and `|short_day` through Babel."""
    i18n.install(env, lang)
    env.globals["page_language"] = lang

    def day(value: date) -> str:
        return i18n.format_day(value, lang)

    def short_day(value: date) -> str:
        from babel.dates import format_date

        return format_date(value, "d MMMM y", locale=lang)

    # `message | t`: a label that arrives as a value (a title, an error) in `lang`, as plain
    # text the page escapes: `_(value)` would mark it safe, and a value can carry user input
    env.filters["t"] = i18n.gettext_for(lang).gettext
    env.filters["day"] = day
    env.filters["short_day"] = short_day
    if lang != DEFAULT:

        def local_time_in(moment: datetime | None, zone: tzinfo, fmt: str | None = None) -> str:
            """A moment in the newsroom's zone with the month's name in `lang` (Babel)."""
            if moment is None or fmt is not None:
                return local_time(moment, zone, fmt) if fmt else local_time(moment, zone)
            from babel.dates import format_datetime

            aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
            return format_datetime(aware, "d MMMM y, HH:mm", tzinfo=zone, locale=lang)

        env.filters["local_time"] = local_time_in
    return env


def environment(request: Request, lang: str) -> Environment:
    """The app's environment for `lang` (built on first use)."""
    state = request.app.state
    by_language: dict[str, Environment] | None = getattr(state, "jinja_by_language", None)
    if by_language is None:
        by_language = state.jinja_by_language = {DEFAULT: state.jinja}
    env = by_language.get(lang)
    if env is None:
        env = by_language.setdefault(lang, make_environment(lang))
    return env


def newsletter_page(settings: Settings, slug: str) -> dict[str, object]:
    """What a page about newsletter `slug` puts in its context: the language (for render's
    `lang`), its name in the masthead, and its own archive and briefing feed in the nav."""
    from worker.edition.lookup import DEFAULT_SLUG

    try:
        newsletter = newsletters.get(settings, slug)
    except newsletters.NewsletterError:
        newsletter = newsletters.get(settings, None)
    default = newsletter.slug == DEFAULT_SLUG
    return {
        "lang": supported(newsletter.language or settings.digest_language),
        "newsletter_name": newsletter.name,
        "archive_slug": None if default else newsletter.slug,
        "briefing_feed": "/briefing.xml" if default else f"/feeds/{newsletter.slug}/briefing.xml",
        "podcast_feed": "/podcast.xml" if default else f"/feeds/{newsletter.slug}/podcast.xml",
    }


def gettext(lang: str, message: str) -> str:
    """A label in `lang` from Python code (extracted by `make messages` as `_`)."""
    return i18n.gettext_for(lang).gettext(message)
