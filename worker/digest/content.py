"""What the templates see: plain, immutable view objects made from the selected rows (pure).

Everything from a feed is turned into plain text here (tags dropped, entities decoded, CR/LF and
runs of whitespace collapsed); the templates escape it on output (autoescape). Links from feeds
are kept only when they are absolute http(s) URLs, so no `javascript:` or relative link ever
reaches the email.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from worker import htmltext, i18n, newsletters
from worker.collect.text import shorten
from worker.edition.lookup import edition_path
from worker.models import Article, AudioState, FeedItem
from worker.settings import Settings

WORDS_PER_MINUTE = 230
PLACEHOLDER_UNSUBSCRIBE = "@@DC_UNSUBSCRIBE_URL@@"
PLACEHOLDER_PREFERENCES = "@@DC_PREFERENCES_URL@@"
PLACEHOLDER_GREETING = "@@DC_GREETING@@"
PLACEHOLDERS = (PLACEHOLDER_UNSUBSCRIBE, PLACEHOLDER_PREFERENCES, PLACEHOLDER_GREETING)
_WS = re.compile(r"\s+")
_BREAKS = ("p", "br", "div", "li", "h1", "h2", "h3", "figcaption")  # where words part
_URL_BAD = re.compile(r"[\s\x00-\x1f\x7f]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


def text1(value: str | None) -> str:
    """One line of text from a plain-text field (titles, summaries, names as collect stores
    them): no CR/LF or control characters, single spaces. Markup stays literal text and is
    escaped on output."""
    if not value:
        return ""
    # the placeholders' marker must never come from content
    text = _CONTROL.sub(" ", value).replace("@@", "@ @")
    return _WS.sub(" ", text).strip()


def plain(html: str | None) -> str:
    """One line of plain text from sanitized HTML (an article body): tags dropped."""
    if not html:
        return ""
    return text1(htmltext.one_line(html, _BREAKS))


def safe_url(url: str | None) -> str | None:
    """An absolute http(s) URL without whitespace or control characters, else None."""
    if not url:
        return None
    url = url.strip()
    if _URL_BAD.search(url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    # "@@" starts a per-recipient placeholder: a feed must never smuggle one into a link (it
    # would carry the reader's unsubscribe token to a third party); "%40" is the same "@"
    return url.replace("@@", "@%40")


def minutes(seconds: float | None) -> int | None:
    if not seconds or seconds <= 0:
        return None
    return max(1, round(seconds / 60))


def date_label(day: date, lang: str | None = "en") -> str:
    return i18n.format_day(day, lang)


@dataclass(frozen=True)
class Story:
    id: int
    title: str
    url: str | None
    dek: str
    byline: str | None
    category: str | None
    reading_minutes: int
    image_url: str | None
    image_alt: str
    listen_url: str | None
    listen_minutes: int | None
    published_local: str  # "HH:MM" in the newsroom's zone
    lang: str = "en"

    @property
    def byline_text(self) -> str:
        """ "By Андрій Кравець" reads "Автор: Андрій Кравець": the story's own language."""
        by = i18n.gettext_for(self.lang).gettext("By %(name)s")
        return by % {"name": self.byline or ""}


@dataclass(frozen=True)
class NewsItem:
    time: str  # "HH:MM" in the newsroom's zone
    title: str
    summary: str
    url: str | None


@dataclass(frozen=True)
class Briefing:
    minutes: int
    url: str


@dataclass
class Block:
    thumb: bool
    stories: list[Story]


@dataclass(frozen=True)
class DigestView:
    newsletter_name: str
    day: date
    date_label: str
    lang: str
    preheader: str
    base_url: str
    browser_url: str
    site_url: str
    manage_url: str
    briefing: Briefing | None
    stories: tuple[Story, ...]  # the lead first
    feed: tuple[NewsItem, ...]
    feed_more: int  # items left out of the email (shown on the site)
    picks: tuple[Story, ...]
    support_text: str
    support_label: str
    support_url: str | None
    postal_address: str
    why_text: str
    place: str = "Kyiv"  # the city of the newsroom's time zone: dates and times are its
    thumbs_from: int = 1_000_000  # stories from this index on are shown without a thumbnail
    stories_more: int = 0  # top stories and picks left out of the email (the web copy has them)
    degradations: tuple[str, ...] = field(default_factory=tuple)
    templates: str | None = None  # the newsletter's template folder (its overrides), if any
    unsubscribe_url: str = PLACEHOLDER_UNSUBSCRIBE
    preferences_url: str = PLACEHOLDER_PREFERENCES
    greeting: str = PLACEHOLDER_GREETING

    @property
    def lead(self) -> Story | None:
        return self.stories[0] if self.stories else None

    @property
    def top(self) -> tuple[Story, ...]:
        return self.stories[1:]

    @property
    def top_blocks(self) -> list[Block]:
        """Top stories in layout blocks: one story with its thumbnail, or a run without."""
        blocks: list[Block] = []
        for index, s in enumerate(self.top, start=1):
            thumb = bool(s.image_url) and index < self.thumbs_from
            if thumb or not blocks or blocks[-1].thumb:
                blocks.append(Block(thumb=thumb, stories=[s]))
            else:
                blocks[-1].stories.append(s)
        return blocks

    @property
    def has_audio(self) -> bool:
        return self.briefing is not None or any(s.listen_url for s in (*self.stories, *self.picks))

    def without_audio(self) -> DigestView:
        """The edition for readers who turned audio links off (Subscriber.wants_audio_links)."""
        return self.with_(
            briefing=None,
            stories=tuple(replace(s, listen_url=None, listen_minutes=None) for s in self.stories),
            picks=tuple(replace(s, listen_url=None, listen_minutes=None) for s in self.picks),
        )

    def with_(self, **changes: object) -> DigestView:
        return replace(self, **changes)  # type: ignore[arg-type]


def _local_time(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%H:%M")


def story(article: Article, settings: Settings) -> Story:
    base = settings.public_base_url.rstrip("/")
    text = plain(article.body_html) or text1(article.summary)
    words = len(text.split())
    audio = article.audio
    listen_minutes = None
    if audio is not None and audio.state in (AudioState.done, AudioState.fallback):
        listen_minutes = minutes(audio.duration_seconds)
    title = text1(article.title) or "Untitled"
    image = safe_url(article.image_url)
    return Story(
        id=article.id,
        title=title,
        url=safe_url(article.url),
        dek=text1(article.summary),
        byline=text1(article.author) or None,
        category=text1(article.categories[0]) if article.categories else None,
        reading_minutes=max(1, math.ceil(words / WORDS_PER_MINUTE)),
        image_url=image,
        image_alt=(text1(article.image_caption) or title) if image else "",
        listen_url=f"{base}/listen/{article.id}" if listen_minutes else None,
        listen_minutes=listen_minutes,
        published_local=_local_time(article.published_at, settings.tz),
        lang=re.sub(r"[^A-Za-z0-9-]", "", article.language or "")[:16] or "en",
    )


def news_item(item: FeedItem, settings: Settings) -> NewsItem:
    return NewsItem(
        time=_local_time(item.published_at, settings.tz),
        title=text1(item.title) or "Untitled",
        summary=text1(item.summary),
        url=safe_url(item.url),
    )


def briefing_url(settings: Settings, day: date) -> str:
    path = edition_path(newsletters.current(settings).slug, day)
    return f"{settings.public_base_url.rstrip('/')}/briefing/{path}"


def browser_url(settings: Settings, day: date) -> str:
    path = edition_path(newsletters.current(settings).slug, day)
    return f"{settings.public_base_url.rstrip('/')}/digests/{path}"


def build_view(
    settings: Settings,
    day: date,
    articles: list[Article],
    feed_items: list[FeedItem],
    picks: list[Article],
    briefing_seconds: float | None,
) -> DigestView:
    base = settings.public_base_url.rstrip("/")
    stories = tuple(story(a, settings) for a in articles)
    feed = tuple(news_item(i, settings) for i in feed_items)
    briefing_minutes = minutes(briefing_seconds)
    briefing = (
        Briefing(minutes=briefing_minutes, url=briefing_url(settings, day))
        if briefing_minutes
        else None
    )
    languages = {a.language for a in articles}
    lang = settings.digest_language or (languages.pop() if len(languages) == 1 else "en")
    t = i18n.gettext_for(lang)
    if stories:
        more = len(stories) - 1
        preheader = stories[0].title + (
            t.ngettext(" — and %(num)s more story", " — and %(num)s more stories", more)
            % {"num": more}
            if more
            else ""
        )
    else:
        preheader = t.gettext("%(num)s news items from %(name)s") % {
            "num": len(feed),
            "name": settings.newsletter_name,
        }
    if feed:
        preheader += t.gettext(", %(num)s news in brief") % {"num": len(feed)}
    place = settings.timezone.rsplit("/", 1)[-1].replace("_", " ")
    own = newsletters.current(settings).templates
    return DigestView(
        newsletter_name=settings.newsletter_name,
        day=day,
        date_label=date_label(day, lang),
        lang=lang,
        templates=str(own) if own else None,
        preheader=shorten(preheader, 140),
        base_url=base,
        browser_url=browser_url(settings, day),
        site_url=safe_url(settings.site_url) or base,
        manage_url=f"{base}/subscribe",
        briefing=briefing,
        stories=stories,
        feed=feed,
        feed_more=0,
        picks=tuple(story(a, settings) for a in picks),
        # the shipped defaults are in the catalogues; a newsroom's own text stays as written
        support_text=t.gettext(settings.support_cta_text),
        support_label=t.gettext(settings.support_cta_label),
        support_url=safe_url(settings.support_cta_url),
        postal_address=settings.postal_address,
        place=t.gettext(place),
        why_text=t.gettext(
            "You are receiving this email because you subscribed to %(name)s at %(site)s."
        )
        % {"name": settings.newsletter_name, "site": base},
    )
