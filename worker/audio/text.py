"""What to speak for an article (pure): paragraphs of plain text, normalised for the ear.

Title, byline, then the body's paragraphs; figure captions, "support us"/newsletter boilerplate,
link lists, scripts and tables left out; numbers, dates, units and abbreviations rewritten so
both engines read them naturally; the pronunciation lexicon applied last, so it works the same
for gTTS and espeak. The text hash covers exactly what is spoken plus the language, so an edit
that does not change the spoken text (markup, a caption) does not trigger a new synthesis.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from worker import htmltext
from worker.audio.normalize import normalize, spoken_date
from worker.paths import templates_dir

# bump when the preparation rules change, so every article is re-spoken once
TEXT_VERSION = 1

_BLOCKS = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "blockquote", "div", "section", "pre"}
_SKIP = {"figure", "figcaption", "script", "style", "table", "nav", "aside", "form", "button"}
_SKIP |= {"iframe", "video", "audio", "noscript", "svg", "footer", "header", "caption"}

_BOILERPLATE = re.compile(
    r"(support (us|our (work|journalism|newsroom))|become a (member|patron|subscriber)"
    r"|subscribe to (our|the) newsletter|sign up (for|to) (our|the)|donate|"
    r"read (also|more)\s*:|related\s*:|follow us on|share this (article|story)"
    r"|підтримайте нас|підпишіться на|читайте також|читайте більше)",
    re.IGNORECASE,
)


def body_paragraphs(body_html: str) -> list[str]:
    """The spoken paragraphs of a sanitized article body."""
    out: list[str] = []
    for tag, text, link_chars in htmltext.blocks(body_html, _BLOCKS, skip=_SKIP, spaces={"br"}):
        if link_chars >= 0.6 * len(text):
            continue  # a link list, "Read also: <link>" line or a bare link
        if tag == "li" and link_chars > 0:
            continue
        if len(text) < 300 and _BOILERPLATE.search(text):
            continue
        if not re.search(r"\w", text):
            continue
        out.append(text)
    return out


# ---------------------------------------------------------------- lexicon
@dataclass(frozen=True)
class Lexicon:
    """Whole-word replacements per language (`templates/lexicon.toml`), longest first."""

    entries: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def apply(self, text: str, language: str) -> str:
        table = self.entries.get(language.split("-")[0], {})
        if not table:
            return text
        words = sorted(table, key=len, reverse=True)
        pattern = re.compile(r"(?<!\w)(" + "|".join(re.escape(w) for w in words) + r")(?!\w)")
        return pattern.sub(lambda m: table[m[1]], text)

    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(self.entries, sort_keys=True).encode()).hexdigest()


def load_lexicon(path: Path | None = None) -> Lexicon:
    path = path or templates_dir() / "lexicon.toml"
    if not path.is_file():
        return Lexicon()
    with path.open("rb") as handle:
        raw = tomllib.load(handle)
    entries = {
        lang: {str(k): str(v) for k, v in table.items()}
        for lang, table in raw.items()
        if isinstance(table, dict)
    }
    return Lexicon(entries)


_lexicons: dict[Path, tuple[float, Lexicon]] = {}


def lexicon_at(path: Path | None = None) -> Lexicon:
    """The lexicon file (TTS_LEXICON, else templates/lexicon.toml), re-read when it changes,
    so editors' additions reach long-running workers without a restart."""
    path = path or templates_dir() / "lexicon.toml"
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        return Lexicon()
    cached = _lexicons.get(path)
    if cached is not None and cached[0] == mtime:
        return cached[1]
    lexicon = load_lexicon(path)
    _lexicons[path] = (mtime, lexicon)
    return lexicon


def default_lexicon() -> Lexicon:
    return lexicon_at(None)


# ---------------------------------------------------------------- the article
MAX_CHUNK_CHARS = 100  # gTTS's GOOGLE_TTS_MAX_CHARS: one request, one caption cue at most


@dataclass(frozen=True)
class Piece:
    """One caption cue: the words shown, and the engine chunks that speak them.

    The caption is the normalised written text; the chunks have the lexicon's respellings
    applied (split again when a respelling pushes a chunk past MAX_CHUNK_CHARS). Cue times are
    then the real boundaries of those chunks in the joined MP3.
    """

    caption: str
    chunks: tuple[str, ...]


@dataclass(frozen=True)
class SpeechText:
    """`paragraphs` are what the engine speaks (normalised, lexicon applied); `written` the same
    normalised but without respellings (captions); `display` as written in the article
    (transcripts: respellings from the lexicon never reach a reader)."""

    language: str
    paragraphs: list[str]
    display: list[str]
    text_hash: str
    written: list[str] = field(default_factory=list)
    lexicon: Lexicon = field(default_factory=Lexicon)

    @property
    def text(self) -> str:
        return "\n\n".join(self.paragraphs)

    @property
    def characters(self) -> int:
        return sum(len(p) for p in self.paragraphs)

    def plan(self, tokenize: Callable[[str], list[str]]) -> list[list[Piece]]:
        """Pieces per paragraph; `tokenize` is gTTS's tokenizer (chunks of <= 100 chars)."""
        return [pieces(w, self.language, self.lexicon, tokenize) for w in self.written]


def pieces(
    written: str, language: str, lexicon: Lexicon, tokenize: Callable[[str], list[str]]
) -> list[Piece]:
    tokens = tokenize(written)
    out: list[Piece] = []
    for caption, token in zip(_captions(written, tokens), tokens, strict=True):
        spoken = lexicon.apply(token, language)
        chunks = [spoken] if len(spoken) <= MAX_CHUNK_CHARS else tokenize(spoken)
        chunks = [c for c in chunks if c.strip()]
        if chunks:
            out.append(Piece(caption=caption, chunks=tuple(chunks)))
    return out


def _captions(written: str, tokens: Sequence[str]) -> list[str]:
    """Each token's stretch of the written text, punctuation included.

    gTTS's tokenizer drops the commas and periods it splits on; captions keep them by taking
    the written text from where a token starts to where the next one starts. A token that a
    gTTS pre-processor rewrote (and so is not found verbatim) is shown as the token itself.
    """
    starts: list[int | None] = []
    cursor = 0
    for token in tokens:
        found = written.find(token, cursor)
        starts.append(found if found >= 0 else None)
        if found >= 0:
            cursor = found + len(token)
    captions = []
    for i, token in enumerate(tokens):
        start = starts[i]
        if start is None:
            captions.append(token)
            continue
        end = next((s for s in starts[i + 1 :] if s is not None), len(written))
        captions.append(written[start:end].strip() or token)
    return captions


def text_hash(paragraphs: Sequence[str], language: str, **params: object) -> str:
    payload = json.dumps(
        {"v": TEXT_VERSION, "lang": language, "params": params, "text": list(paragraphs)},
        ensure_ascii=False,
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def byline(author: str | None, published: datetime | None, language: str) -> str | None:
    parts = []
    if author:
        name = author.strip().rstrip(".")
        parts.append(f"Автор: {name}." if language == "uk" else f"By {name}.")
    if published is not None:
        when = spoken_date(published.date(), language)
        parts.append(f"Опубліковано {when}." if language == "uk" else f"Published {when}.")
    return " ".join(parts) or None


def prepare(
    title: str,
    body_html: str,
    language: str = "en",
    *,
    author: str | None = None,
    published: datetime | None = None,
    lexicon: Lexicon | None = None,
    max_paragraphs: int | None = None,
) -> SpeechText:
    """The article as spoken paragraphs: title, byline, body (first `max_paragraphs` if given)."""
    language = (language or "en").split("-")[0].lower()
    lexicon = lexicon if lexicon is not None else default_lexicon()
    body = body_paragraphs(body_html)
    if max_paragraphs is not None:
        body = body[:max_paragraphs]
    if not title.strip() and not body:
        # a byline alone is no article
        return SpeechText(language, [], [], text_hash([], language), [], lexicon)
    raw = [title.strip(), *(p for p in [byline(author, published, language)] if p), *body]
    paragraphs: list[str] = []
    written: list[str] = []
    display: list[str] = []
    for paragraph in raw:
        normal = normalize(paragraph, language).strip()
        if not normal or not re.search(r"\w", normal):
            continue
        if not re.search(r"[.!?…:;]$", normal):
            normal += "."  # a pause between title, byline and body in both engines
        written.append(normal)
        paragraphs.append(lexicon.apply(normal, language))
        display.append(" ".join(paragraph.split()))
    return SpeechText(
        language=language,
        paragraphs=paragraphs,
        display=display,
        text_hash=text_hash(paragraphs, language),
        written=written,
        lexicon=lexicon,
    )
