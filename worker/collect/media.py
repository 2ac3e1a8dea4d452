"""Feed entry extras: images (media:content, enclosure, thumbnail, caption, credit), raw GUIDs.

feedparser folds media:description into the entry summary and resolves relative GUIDs against the
feed URL (so a file:// feed's GUIDs would change when its folder moves); captions and the GUIDs as
written are read in a second, locked-down lxml pass (no DTD, no entities, no network) and matched
to entries by position.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lxml import etree  # type: ignore[import-untyped]

from worker.collect.text import canonical_url, clean_text

MRSS = "http://search.yahoo.com/mrss/"
ATOM = "http://www.w3.org/2005/Atom"
RDF_ABOUT = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}about"
_ITEM_TAGS = {"item", "entry"}


@dataclass(frozen=True)
class Extras:
    guid: str | None = None
    caption: str | None = None
    credit: str | None = None


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


def _raw_guid(element: Any) -> str | None:
    for child in element:
        if isinstance(child.tag, str) and child.tag in ("guid", f"{{{ATOM}}}id"):
            return clean_text(child.text or "", limit=2000) or None
    about = element.get(RDF_ABOUT)
    return clean_text(about, limit=2000) or None if about else None


def _localname(tag: str) -> str:
    # recover mode keeps undeclared prefixes in the name ("media:content"), which QName refuses
    return tag.rsplit("}", 1)[-1].rsplit(":", 1)[-1]


def extract(content: bytes, expected: int) -> list[Extras] | None:
    """Extras per item in document order, or None when they cannot be matched safely."""
    if expected == 0:
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
    found: list[Extras] = []
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        if _localname(element.tag) not in _ITEM_TAGS:
            continue
        caption = credit = None
        for desc in element.iter(f"{{{MRSS}}}description", f"{{{MRSS}}}title"):
            caption = caption or _text(desc)
        for cred in element.iter(f"{{{MRSS}}}credit"):
            credit = credit or _text(cred)
        found.append(Extras(guid=_raw_guid(element), caption=caption, credit=credit))
    return found if len(found) == expected else None
