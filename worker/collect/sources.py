"""The sources file (TOML): parse, validate, resolve relative URLs, and upsert into the database.

A bad entry is reported with the file, the line of its `[[source]]` header and its name, so ops
can fix the file without guessing. The whole file is refused when any entry is bad: a typo must
be loud, not silently drop a source from the day's digest.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.collect.charset import EncodingError, check_codec
from worker.models import Source, SourceKind
from worker.settings import Settings

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SOURCE_HEADER = re.compile(r"^\s*\[\[\s*source\s*\]\]", re.MULTILINE)


class SourcesError(ValueError):
    """The sources file cannot be used; the message names the file, line and source."""


class SourceSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200)
    url: str = Field(min_length=1)
    kind: SourceKind
    language: str = Field(default="en", pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")
    full_text: bool = False
    local: bool = False
    # category filters, compared case-insensitively; include empty = everything
    include_categories: list[str] = Field(default_factory=list)
    exclude_categories: list[str] = Field(default_factory=list)
    # the feed's real charset when its server or declaration lies (else feedparser decides)
    encoding: str | None = None

    @field_validator("encoding")
    @classmethod
    def _known_codec(cls, value: str | None) -> str | None:
        if not value:
            return None
        try:
            return check_codec(value)
        except EncodingError as exc:
            raise ValueError(str(exc)) from exc

    @field_validator("name")
    @classmethod
    def _printable(cls, value: str) -> str:
        if _CONTROL.search(value):
            raise ValueError("name must not contain control characters")
        return value

    def options(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "include_categories": [c.casefold() for c in self.include_categories],
            "exclude_categories": [c.casefold() for c in self.exclude_categories],
        }
        if self.encoding:
            options["encoding"] = self.encoding
        return options


def resolve_url(url: str, base_dir: Path) -> str:
    """http(s) URLs pass; file:// and bare paths (relative to the sources file) become file://."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        if not parts.hostname:
            raise ValueError(f"url {url!r} has no host")
        return url
    if scheme == "file":
        return url
    if scheme and len(scheme) > 1:  # a one-letter "scheme" is a Windows drive letter
        raise ValueError(f"url scheme {scheme!r} is not supported (use http, https or file)")
    path = Path(url)
    if not path.is_absolute():
        path = base_dir / path
    return path.resolve().as_uri()


def _header_lines(text: str) -> list[int]:
    return [text.count("\n", 0, m.start()) + 1 for m in _SOURCE_HEADER.finditer(text)]


def parse_sources(text: str, *, base_dir: Path, filename: str = "sources.toml") -> list[SourceSpec]:
    """Parse the TOML text of a sources file; raises SourcesError listing every bad entry."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SourcesError(f"{filename}: not valid TOML: {exc}") from exc
    entries = data.get("source", [])
    if not isinstance(entries, list):
        raise SourcesError(f"{filename}: `source` must be an array of tables ([[source]])")
    lines = _header_lines(text)
    problems: list[str] = []
    specs: list[SourceSpec] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        line = lines[index] if index < len(lines) else 0
        where = f"{filename}:{line}" if line else filename
        label = entry.get("name") if isinstance(entry, dict) else None
        who = f"source #{index + 1}" + (f" {label!r}" if isinstance(label, str) else "")
        if not isinstance(entry, dict):
            problems.append(f"{where}: {who}: not a table")
            continue
        try:
            spec = SourceSpec.model_validate(entry)
            spec.url = resolve_url(spec.url, base_dir)
            if spec.url.startswith("file:") and not spec.local:
                raise ValueError("file:// URLs (and paths) need `local = true`")
        except ValidationError as exc:
            for err in exc.errors():
                field = ".".join(str(p) for p in err["loc"]) or "entry"
                problems.append(f"{where}: {who}: {field}: {err['msg']}")
            continue
        except ValueError as exc:
            problems.append(f"{where}: {who}: url: {exc}")
            continue
        if spec.name in seen:
            problems.append(f"{where}: {who}: duplicate name")
            continue
        seen.add(spec.name)
        specs.append(spec)
    if problems:
        raise SourcesError("bad sources file:\n  " + "\n  ".join(problems))
    return specs


def load_sources(path: Path) -> list[SourceSpec]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SourcesError(f"cannot read sources file {path}: {exc}") from exc
    return parse_sources(text, base_dir=path.resolve().parent, filename=str(path))


def sync_sources(session: Session, settings: Settings) -> list[Source]:
    """Upsert the sources file into the database by name; sources no longer listed are disabled.

    Returns the enabled sources in file order. Health (failures, pause) survives a sync; a
    changed URL forgets the conditional-GET validators, which belong to the old URL.
    """
    specs = load_sources(settings.sources)
    existing = {s.name: s for s in session.scalars(select(Source))}
    result: list[Source] = []
    for spec in specs:
        source = existing.pop(spec.name, None)
        if source is None:
            source = Source(name=spec.name, consecutive_failures=0)
            session.add(source)
        if source.url != spec.url or (source.options or {}) != spec.options():
            # validators belong to what was read: a new URL, encoding or filter reads afresh
            source.etag = None
            source.last_modified = None
        source.url = spec.url
        source.kind = spec.kind
        source.language = spec.language
        source.full_text = spec.full_text
        source.local = spec.local
        source.options = spec.options()
        source.enabled = True
        result.append(source)
    for gone in existing.values():
        gone.enabled = False
    session.flush()
    return result
