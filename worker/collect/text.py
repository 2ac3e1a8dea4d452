"""Text and HTML hygiene shared by the parser and the extractor (pure functions).

Everything from a feed passes through here: HTML is sanitized with an nh3 (Ammonia) allowlist,
plain text has control characters (CR/LF included) removed, URLs are canonicalized.
"""

from __future__ import annotations

import hashlib
import html
import re
from urllib.parse import parse_qsl, quote, urlencode, urljoin, urlsplit, urlunsplit

import nh3

from worker import htmltext

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "cite", "code", "em", "figcaption", "figure",
    "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "li", "ol", "p", "pre", "q", "s",
    "small", "strong", "sub", "sup", "table", "tbody", "td", "th", "thead", "tr", "u", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
    "abbr": {"title"},
}
URL_SCHEMES = {"http", "https", "mailto"}

# query parameters that only track the reader; dropped so one story has one URL
_TRACKING = {
    "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "igshid", "mc_cid",
    "mc_eid", "_ga", "_gl", "ref_src", "ref_url", "cmpid", "s_cid", "spm", "oly_enc_id",
    "oly_anon_id", "vero_id", "wt_mc", "__s", "_hsenc", "_hsmi", "mkt_tok",
}  # fmt: skip
_TRACKING_PREFIXES = ("utm_", "pk_", "mtm_")
# lone surrogates (from numeric references like &#xD800; in a lenient parse) cannot be encoded
# as UTF-8: left in, they would fail the database write or the article.json of their entry
_CONTROL = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff"
    r"\ufffe\uffff]"
)
_CONTROL_BUT_NEWLINE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
_SPACE = re.compile(r"\s+")
# where words part in the one-line text
_BREAKS = {"p", "br", "div", "li", "ul", "ol", "blockquote", "tr", "td", "th", "figcaption"}
_BREAKS |= {"figure", "pre", "hr", "h1", "h2", "h3", "h4", "h5", "h6"}


# Feed text that spells markup or a script URL ("<script", "onerror=", "javascript:") gets an
# invisible word joiner (U+2060) inside, so that nothing that later reads the text as HTML, or
# greps a stored file for it, ever finds one; readers and the speech engine see the same text.
WORD_JOINER = "\u2060"
_MARKUP_START = re.compile(r"<(?=[A-Za-z/!?])")
_ESCAPED_MARKUP_START = re.compile(r"&lt;(?=[A-Za-z/!?])")
_EVENT_HANDLER = re.compile(r"(?<![A-Za-z0-9])(on)(?=[A-Za-z]+\s*=)", re.I)
_SCRIPT_SCHEME = re.compile(r"((?:java|vb|live|ecma)script)(\s*:)", re.I)
_SAFE_PATH = "/%:@!$&'()*+,;=~-._"
_HOST = re.compile(r"[a-z0-9._-]+|\[[0-9a-f:.]+\]")


def _defang_common(text: str) -> str:
    # cheap guards first: these case-insensitive patterns cost far more than a scan for "="
    if "=" in text:
        text = _EVENT_HANDLER.sub(r"\1" + WORD_JOINER, text)
    if ":" in text and "script" in text.lower():
        text = _SCRIPT_SCHEME.sub(r"\1" + WORD_JOINER + r"\2", text)
    return text


def defang_text(text: str) -> str:
    """Plain text that can never read as a tag, an event handler or a script URL (idempotent)."""
    return _defang_common(_MARKUP_START.sub("<" + WORD_JOINER, text))


def defang_html(value: str) -> str:
    """The same for the text and attribute values of sanitized HTML (its tags stay tags)."""
    return _defang_common(_ESCAPED_MARKUP_START.sub("&lt;" + WORD_JOINER, value))


def _one_line(value: str) -> str:
    return _SPACE.sub(" ", _CONTROL.sub(" ", value)).strip()


def clean_text(value: str, *, limit: int | None = None) -> str:
    """One line of plain text: control characters and CR/LF become spaces, whitespace collapsed,
    markup-looking runs defanged (see WORD_JOINER)."""
    text = defang_text(_one_line(value))
    if limit is not None and len(text) > limit:
        text = shorten(text, limit)
    return text


def shorten(text: str, limit: int) -> str:
    """At most `limit` characters, "…" included: cut at a word break in the second half
    (textwrap.shorten would give "…" alone for a long URL, which has none) and without the
    punctuation the cut left hanging. The digest's subjects, decks and preheader too."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut[limit // 2 :]:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:.-–—") + "…"


def sanitize_html(value: str) -> str:
    """The body HTML allowlist: structure, links and images over http(s) only, no scripts/styles."""
    cleaned = nh3.clean(
        _CONTROL_BUT_NEWLINE.sub("", value),  # not valid in HTML; would reach the TTS text
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )
    return defang_html(cleaned).strip()


def html_to_text(value: str) -> str:
    """Visible text of an HTML fragment (script/style contents dropped), on one line."""
    return clean_text(htmltext.one_line(_CONTROL_BUT_NEWLINE.sub("", value), _BREAKS))


def plain_to_html(value: str) -> str:
    """text/plain content, escaped, as paragraphs."""
    value = _CONTROL_BUT_NEWLINE.sub("", value)
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", value.replace("\r\n", "\n")) if p.strip()]
    return "".join(
        "<p>"
        + "<br>".join(html.escape(line.strip(), quote=False) for line in p.split("\n"))
        + "</p>"
        for p in paragraphs
    )


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def content_hash(title: str, body_html: str) -> str:
    """What audio depends on: the title and the body's text (markup-only edits do not count)."""
    return sha256(title + "\n" + html_to_text(body_html))


def canonical_url(url: str | None, base: str | None = None) -> str | None:
    """An absolute http(s) URL without fragment or tracking parameters, or None."""
    if not url:
        return None
    url = _one_line(url)
    try:
        absolute = urljoin(base, url) if base else url
        parts = urlsplit(absolute)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            return None
        host = parts.hostname.lower()
        if ":" in host:
            host = f"[{host}]"
        elif not _HOST.fullmatch(host):
            host = host.encode("idna").decode("ascii")  # an IDN as the DNS knows it
        port = parts.port
    except (ValueError, UnicodeError):
        return None
    if not _HOST.fullmatch(host):
        return None
    if port and not ((scheme == "http" and port == 80) or (scheme == "https" and port == 443)):
        host = f"{host}:{port}"
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k.lower() not in _TRACKING and not k.lower().startswith(_TRACKING_PREFIXES)
    ]
    # percent-encoded as a URI: no "<", quote or space in a link, and no "javascript:" either
    path = _SCRIPT_SCHEME.sub(r"\1%3A", quote(parts.path or "/", safe=_SAFE_PATH))
    return urlunsplit((scheme, host, path, urlencode(query, doseq=True), ""))
