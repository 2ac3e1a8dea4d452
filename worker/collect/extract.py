"""Full text for sources whose feed carries only a summary: fetch the page, keep the main text.

trafilatura finds the article body; its HTML output then goes through the same nh3 allowlist as
feed bodies, so what is stored (and spoken) is sanitized either way.
"""

from __future__ import annotations

import re

import trafilatura

from worker.collect.fetch import FetchLimits, HostSlots, fetch
from worker.collect.text import html_to_text, sanitize_html

# the page's own <h1> repeats the headline we already have
_LEADING_H1 = re.compile(r"^\s*(<html>\s*<body>\s*)?<h1>.*?</h1>", re.S | re.I)
MIN_TEXT = 200  # shorter "main text" is navigation or a paywall stub, not the article


def extract_main_html(page: bytes | str, url: str) -> str | None:
    """Sanitized main-text HTML of an article page, or None when nothing article-like is found."""
    try:
        found = trafilatura.extract(
            page,
            url=url,
            output_format="html",
            include_links=True,
            include_images=False,
            include_comments=False,
            include_tables=True,
            favor_precision=True,
        )
    except Exception:  # trafilatura on hostile pages: a failed extraction is just "no full text"
        return None
    if not found:
        return None
    body = sanitize_html(_LEADING_H1.sub("", found, count=1))
    return body if len(html_to_text(body)) >= MIN_TEXT else None


def fetch_full_text(
    url: str, *, local: bool, limits: FetchLimits, slots: HostSlots | None = None
) -> str | None:
    """Fetch the article page (same guarded fetcher as feeds) and extract it. Raises FetchError."""
    page = fetch(
        url, local=local, limits=limits, accept="text/html, application/xhtml+xml", slots=slots
    )
    return extract_main_html(page.content, page.url)
