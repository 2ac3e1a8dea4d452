"""Parsing helpers for the digest tests."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlsplit


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
