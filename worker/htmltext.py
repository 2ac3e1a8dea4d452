"""Text out of HTML, on nh3 (Ammonia, whose html5ever parser follows the HTML standard, as
browsers do): one parse drops the elements whose text is never wanted (scripts, styles, each
caller's own list), then a walk over its normalized markup cuts the text into blocks.

Callers choose where text breaks (`breaks`: the block elements) and what they keep: the
spoken paragraphs (worker/audio/text.py: with each block's tag and link text), the listen
page's paragraphs (web/pages.py), one line (worker/digest/content.py, worker/collect/text.py).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from typing import NamedTuple

import nh3

ALWAYS_SKIPPED = frozenset({"script", "style"})
# nh3's output has no attributes left and every `<` of the text escaped: a `<` opens a tag
_TAG = re.compile(r"<(/?)([a-z][a-z0-9]*)[^>]*>")


class Block(NamedTuple):
    tag: str  # the block element opened last before the text
    text: str  # whitespace collapsed to single spaces
    link_chars: int  # how much of it was link text


def blocks(
    markup: str,
    breaks: Iterable[str],
    *,
    skip: Iterable[str] = (),
    spaces: Iterable[str] = (),
    first_tag: str = "p",
) -> list[Block]:
    """The non-empty text runs of `markup` between the start and end tags of `breaks`; the
    text of `skip` elements (and of scripts and styles) dropped; `spaces` (such as `br`) read
    as one space."""
    breaks, spaces = frozenset(breaks), frozenset(spaces)
    cleaned = nh3.clean(
        markup,
        tags=set(breaks | spaces | {"a"}),
        attributes={},
        clean_content_tags=set(ALWAYS_SKIPPED | frozenset(skip)),
        strip_comments=True,
        link_rel=None,
    )
    found: list[Block] = []
    tag, link_chars, in_link = first_tag, 0, 0
    parts: list[str] = []

    def flush() -> None:
        nonlocal parts, link_chars
        text = " ".join("".join(parts).split())
        if text:
            found.append(Block(tag, text, link_chars))
        parts, link_chars = [], 0

    position = 0
    for match in _TAG.finditer(cleaned):
        data = html.unescape(cleaned[position : match.start()])
        position = match.end()
        parts.append(data)
        if in_link:
            link_chars += len(data.strip())
        closing, name = match.group(1) == "/", match.group(2)
        if name in breaks:
            flush()
            if not closing:
                tag = name
        elif name in spaces:
            parts.append(" ")
        elif name == "a":
            in_link = max(0, in_link - 1) if closing else in_link + 1
    parts.append(html.unescape(cleaned[position:]))
    flush()
    return found


def paragraphs(markup: str, breaks: Iterable[str]) -> list[str]:
    return [block.text for block in blocks(markup, breaks)]


def one_line(markup: str, breaks: Iterable[str]) -> str:
    """The text on one line, a space where a block starts or ends."""
    return " ".join(paragraphs(markup, breaks))
