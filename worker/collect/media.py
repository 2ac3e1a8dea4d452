"""Images of feed entries: media:content / enclosure / media:thumbnail, with caption and credit.

feedparser folds media:description into the entry summary, so captions are read in a second,
locked-down lxml pass (no DTD, no entities, no network) and matched to entries by position.
"""

from __future__ import annotations

from typing import Any

from lxml import etree  # type: ignore[import-untyped]

from worker.collect.text import canonical_url, clean_text

MRSS = "http://search.yahoo.com/mrss/"
_ITEM_TAGS = {"item", "entry"}


def _is_image(kind: str | None, medium: str | None, url: str) -> bool:
    if medium:
        return medium == "image"
    if kind:
        return kind.lower().startswith("image/")
    return url.lower().split("?", 1)[0].endswith((".jpg", ".jpeg", ".png", ".gif", ".webp"))


def image_from_entry(entry: Any, base: str) -> str | None:
    """The entry's lead image URL (absolute http(s)), or None."""
    for media in entry.get("media_content", []) or []:
        url = media.get("url", "")
        if url and _is_image(media.get("type"), media.get("medium"), url):
            return canonical_url(url, base) or None
    for link in entry.get("enclosures", []) or []:
        url = link.get("href", "")
        if url and _is_image(link.get("type"), None, url):
            return canonical_url(url, base) or None
    for thumb in entry.get("media_thumbnail", []) or []:
        if thumb.get("url"):
            return canonical_url(thumb["url"], base) or None
    return None


def _text(element: Any) -> str | None:
    text = clean_text("".join(element.itertext()), limit=300)
    return text or None


def extract(content: bytes, expected: int) -> list[tuple[str | None, str | None]] | None:
    """(caption, credit) per item in document order, or None when it cannot be matched safely."""
    if expected == 0 or MRSS.encode() not in content:
        return None
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, recover=True
    )
    try:
        root = etree.fromstring(content, parser=parser)
    except (etree.LxmlError, ValueError):
        return None
    if root is None:
        return None
    found: list[tuple[str | None, str | None]] = []
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        if etree.QName(element).localname not in _ITEM_TAGS:
            continue
        caption = credit = None
        for desc in element.iter(f"{{{MRSS}}}description", f"{{{MRSS}}}title"):
            caption = caption or _text(desc)
        for cred in element.iter(f"{{{MRSS}}}credit"):
            credit = credit or _text(cred)
        found.append((caption, credit))
    return found if len(found) == expected else None
