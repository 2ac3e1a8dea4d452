"""Parsing helpers for the digest tests."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from tests.digest.conftest import Factory
    from worker.settings import Settings
    from worker.storage import Storage


class Links(HTMLParser):
    """Every href/src, every <img> (with its alt), the <html lang> and all text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []
        self.srcs: list[str] = []
        self.imgs: list[dict[str, str | None]] = []
        self.lang: str | None = None
        self.text: list[str] = []
        self.scripts = 0
        self.event_handlers: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "html":
            self.lang = a.get("lang")
        if tag == "script":
            self.scripts += 1
        self.event_handlers += [k for k in a if k.startswith("on")]
        if tag == "a" and "href" in a:
            self.hrefs.append(a["href"] or "")
        if tag == "img":
            self.imgs.append(a)
            self.srcs.append(a.get("src") or "")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse_html(html: str) -> Links:
    p = Links()
    p.feed(html)
    p.close()
    return p


def is_absolute_http(url: str) -> bool:
    parts = urlsplit(url)
    return (
        parts.scheme in ("http", "https")
        and bool(parts.netloc)
        and not any(c.isspace() for c in url)
    )


def sample_message(
    session: Session,
    settings: Settings,
    storage: Storage,
    factory: Factory,
    name: str = "Olena Kovalenko",
    address: str = "olena.reader@example.org",
) -> bytes:
    """The sample day's digest as one reader receives it (the real template, personalized)."""
    from tests.digest.conftest import DAY, fixed_briefing, sample_day
    from worker.delivery.ledger import message_id
    from worker.digest.build import build_digest
    from worker.digest.message import Recipient, build_message_template
    from worker.tokens import unsubscribe_url

    sample_day(factory)
    digest = build_digest(session, settings, storage, DAY, briefing=fixed_briefing)
    return build_message_template(session, settings, storage, digest.id).personalize(
        Recipient(
            subscriber_id=3,
            email=address,
            name=name,
            message_id=message_id(settings, digest.id, 3),
            unsubscribe_url=unsubscribe_url(settings, 3, None),
        )
    )
