"""Slugs for storage keys: made by us from the title, never taken from a feed as a path (pure)."""

from __future__ import annotations

import re
from collections.abc import Container

from unidecode import unidecode

MAX_LENGTH = 60
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def slugify(title: str, *, max_length: int = MAX_LENGTH) -> str:
    """ASCII (Cyrillic transliterated), lowercase, [a-z0-9-] only, at most `max_length` chars.

    The alphabet alone rules out '/', '\\', '.' and therefore dot-only path segments.
    """
    ascii_text = unidecode(title or "", errors="ignore").lower()
    slug = _NOT_SLUG.sub("-", ascii_text).strip("-")
    if len(slug) > max_length:
        cut = slug[:max_length]
        # prefer cutting at a word boundary when it keeps most of the length
        if "-" in cut[max_length // 2 :]:
            cut = cut.rsplit("-", 1)[0]
        slug = cut.strip("-")
    return slug or "article"


def unique_slug(title: str, taken: Container[str], *, max_length: int = MAX_LENGTH) -> str:
    """slugify(title), suffixed -2, -3, ... until not in `taken` (the slugs of the same day)."""
    base = slugify(title, max_length=max_length)
    if base not in taken:
        return base
    n = 2
    while True:
        suffix = f"-{n}"
        candidate = base[: max_length - len(suffix)].rstrip("-") + suffix
        if candidate not in taken:
            return candidate
        n += 1
