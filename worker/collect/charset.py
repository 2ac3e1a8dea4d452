"""Which bytes mean which text (pure): feedparser decides, with the real HTTP headers.

feedparser follows RFC 3023 and then falls back in order: the HTTP `charset`, the XML
declaration, the byte order mark, detection (chardet, a dependency for that reason), then UTF-8
and windows-1252. We never decode a feed ourselves before it, except when the sources file sets
`encoding` for a server that lies: then that codec is used and the feed handed on as UTF-8.
"""

from __future__ import annotations

import codecs
import json
import re

import chardet

# feedparser's own reading of the first bytes (XML specification, appendix F)
_BOMS = (
    (codecs.BOM_UTF32_BE, "utf-32be"),
    (codecs.BOM_UTF32_LE, "utf-32le"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_BE, "utf-16be"),
    (codecs.BOM_UTF16_LE, "utf-16le"),
)
_HTTP_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9._:-]+)", re.I)
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*?>")
UTF8_DECL = "<?xml version='1.0' encoding='utf-8'?>"
# a file:// feed has no Content-Type: read it as XML, whose default is UTF-8 (as feedparser
# reads a file); without any Content-Type feedparser would assume HTTP's iso-8859-1
DEFAULT_CONTENT_TYPE = "application/xml"


class EncodingError(ValueError):
    """An `encoding` override that Python does not know."""


def check_codec(name: str) -> str:
    """The canonical name of a codec, or EncodingError (for the sources file)."""
    try:
        return codecs.lookup(name).name
    except LookupError as exc:
        raise EncodingError(f"unknown encoding {name!r}") from exc


def strip_bom(content: bytes) -> tuple[bytes, str | None]:
    for bom, name in _BOMS:
        # "\xff\xfe\x00\x00" is UTF-32LE's BOM, not UTF-16LE's followed by a NUL character
        if content.startswith(bom):
            return content[len(bom) :], name
    return content, None


def http_charset(content_type: str) -> str | None:
    found = _HTTP_CHARSET.search(content_type or "")
    return found.group(1) if found else None


def with_utf8_declaration(text: str) -> bytes:
    """Text of an XML document as UTF-8 bytes whose declaration says so."""
    text = text.lstrip("\ufeff")
    if _XML_DECL.match(text):
        text = _XML_DECL.sub(UTF8_DECL, text, count=1)
    return text.encode("utf-8", "replace")


def feedparser_input(
    content: bytes, content_type: str, override: str | None
) -> tuple[bytes, dict[str, str]]:
    """The bytes and the response headers to hand to feedparser (its `response_headers=`)."""
    if override:
        body, _ = strip_bom(content)
        data = with_utf8_declaration(body.decode(override, "replace"))
        return data, {"content-type": "application/xml; charset=utf-8"}
    return content, {"content-type": content_type.strip() or DEFAULT_CONTENT_TYPE}


def as_utf8(content: bytes, encoding: str) -> bytes | None:
    """The document re-encoded as UTF-8 the way feedparser decoded it (for a second, lxml pass
    over the same text), or None when `encoding` is unknown."""
    if not encoding:
        return None
    body, _ = strip_bom(content)
    try:
        return with_utf8_declaration(body.decode(encoding, "replace"))
    except LookupError:
        return None


def looks_like_json(content: bytes, content_type: str) -> bool:
    """The body decides (servers mislabel feeds often); the Content-Type breaks the tie."""
    head = content[:64]
    try:
        text = head.decode(json.detect_encoding(head), "ignore")
    except LookupError:  # pragma: no cover - detect_encoding names only UTF codecs
        text = head.decode("utf-8", "ignore")
    text = text.lstrip("\ufeff \t\r\n")
    if text.startswith("{"):
        return True
    return "json" in content_type.lower() and not text.startswith("<")


def json_text(content: bytes, content_type: str, override: str | None) -> str:
    """JSON Feed text: UTF-8 by its spec (RFC 8259), but a BOM, the HTTP charset or a source's
    override win; undecodable bytes are detected rather than refused."""
    if override:
        return strip_bom(content)[0].decode(override, "replace")
    body, bom = strip_bom(content)
    names = [bom, http_charset(content_type), json.detect_encoding(body), "utf-8"]
    for name in names:
        if not name:
            continue
        try:
            return body.decode(name)
        except (LookupError, UnicodeDecodeError):
            continue
    detected = chardet.detect(body[:200_000]).get("encoding") or "utf-8"
    try:
        return body.decode(detected, "replace")
    except LookupError:
        return body.decode("utf-8", "replace")
