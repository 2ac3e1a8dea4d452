"""Which entry is which (pure): the GUIDs that identify one entry each within a feed.

An entry's GUID is its id, else its link, else a hash of the source and its text (so identical
link-less entries of two sources never merge). Ids that are not absolute URIs ("123", "post-7")
are only unique within their feed, so they are prefixed with the source name; absolute ones are
global. Feeds get this wrong in a few common ways, handled here:
- the feed's own page, or a link shared by three or more entries with different titles (every
  item pointing at the homepage or a live page), identifies none of them: it stays their link
  but not their identity (two entries with one link are one story told twice);
- an id shared by different entries names none of them: each gets its own link, else a hash;
- an entry repeated as it is counts once.
"""

from __future__ import annotations

import re
from collections import defaultdict

from worker.collect.items import ParsedItem, bounded_id
from worker.collect.text import clean_text, html_to_text, sha256

_ABSOLUTE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:\S")  # a URI with a scheme (not "C:")


def make_guid(
    raw: str | None, canonical: str | None, title: str, body: str, namespace: str = ""
) -> str:
    value = clean_text(raw or "")
    if value and namespace and not _ABSOLUTE.match(value):
        value = f"{namespace}:{value}"
    value = value or canonical or ""
    if not value:
        value = "sha256:" + sha256(namespace + "\n" + title + "\n" + html_to_text(body))
    return bounded_id(value)


def _distinct(item: ParsedItem, namespace: str) -> str:
    """A GUID for an entry whose id is shared with other entries of its feed."""
    return bounded_id("sha256:" + sha256("\n".join((namespace, item.guid, item.content_hash))))


SHARED_LINK_ENTRIES = 3  # this many different entries on one link: it is not a story's link


def identify(
    items: list[ParsedItem], namespace: str, feed_link: str | None = None
) -> list[ParsedItem]:
    """Set each item's `guid` (and drop identity-less links); repeated entries once, in order."""
    titles_by_url: dict[str, set[str]] = defaultdict(set)
    for item in items:
        if item.canonical_url:
            titles_by_url[item.canonical_url].add(item.title)
    for item in items:
        url = item.canonical_url
        if url and (url == feed_link or len(titles_by_url[url]) >= SHARED_LINK_ENTRIES):
            item.canonical_url = None
        item.guid = make_guid(
            item.raw_guid, item.canonical_url, item.title, item.body_html, namespace
        )
    groups: dict[str, list[ParsedItem]] = defaultdict(list)
    for item in items:
        groups[item.guid].append(item)
    for group in groups.values():
        if len({(i.title, i.content_hash) for i in group}) == 1:
            continue
        urls = [i.canonical_url for i in group]
        for item in group:
            if item.canonical_url and urls.count(item.canonical_url) == 1:
                item.guid = item.canonical_url
            else:
                item.guid = _distinct(item, namespace)
    seen: set[str] = set()
    unique = []
    for item in items:
        if item.guid not in seen:
            seen.add(item.guid)
            unique.append(item)
    return unique
