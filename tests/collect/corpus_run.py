"""Run the collector over another project's feed fixtures, the way a new user would.

Each fixture becomes a source: fixtures that feedparser's own suite serves over HTTP (a path
with "http" in it, or `Header:` lines) are served by a local HTTP server with those headers
(Content-Type `text/xml` unless one is given, as feedparser's suite does); the others are read
as files, as feedparser's suite reads them. The reference is feedparser itself on the same bytes
and headers.

    .venv/bin/python -m tests.collect.corpus_run ../shared/corpora/feedparser [more folders]

prints the counts (and the failures); the test in test_corpus.py asserts on them.
"""

from __future__ import annotations

import io
import json
import re
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import feedparser

from tests.collect.helpers import FeedServer, Route
from worker.collect.items import title_text

FEED_SUFFIXES = {".xml", ".rss", ".rdf", ".atom", ".json", ".feed", ".jsonfeed", ".opml"}
_HEADER = re.compile(r"^Header:\s+([^:]+):(.*)$", re.MULTILINE)
_HTML_TYPES = {"text/html", "application/xhtml+xml", "html", "xhtml"}


@dataclass
class Fixture:
    path: Path
    name: str  # relative to its corpus folder, with that folder and its parent in front
    data: bytes
    http: bool
    headers: dict[str, str]  # HTTP response headers (Content-Type included) when `http`
    reference: Any = None  # feedparser's result on the same bytes and headers

    @property
    def titled_entries(self) -> list[Any]:
        return [e for e in self.reference.entries if e.get("title")]

    @property
    def eligible(self) -> bool:
        """feedparser reads it with at least one titled entry (or it is a JSON Feed)."""
        return bool(self.titled_entries) or self.is_json_feed

    @property
    def readable(self) -> bool:
        """feedparser reads at least one entry from it (titled or not)."""
        return bool(self.reference.entries) or self.is_json_feed

    @property
    def is_json_feed(self) -> bool:
        try:
            data = json.loads(self.data)
        except (ValueError, UnicodeDecodeError):
            return False
        return isinstance(data, dict) and "jsonfeed.org/version" in str(data.get("version"))

    def expected_titles(self) -> set[str]:
        """feedparser's titles through the same plain-text rule the collector applies."""
        return {
            title_text(e.title, (e.get("title_detail") or {}).get("type") in _HTML_TYPES)
            for e in self.titled_entries
        }


def fixture_text(data: bytes) -> str:
    """The text of a fixture for reading its comment block, by its byte order mark."""
    for prefix, codec in (
        (b"\x00\x00\xfe\xff", "utf-32be"),
        (b"\xff\xfe\x00\x00", "utf-32le"),
        (b"\x00\x00\x00\x3c", "utf-32be"),
        (b"\x3c\x00\x00\x00", "utf-32le"),
        (b"\x00\x3c\x00\x3f", "utf-16be"),
        (b"\x3c\x00\x3f\x00", "utf-16le"),
        (b"\xfe\xff", "utf-16be"),
        (b"\xff\xfe", "utf-16le"),
    ):
        if data.startswith(prefix):
            return data.decode(codec, "ignore")
    return data.decode("utf-8", "ignore")


def load(folders: list[Path]) -> list[Fixture]:
    fixtures = []
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if not path.is_file() or path.suffix.lower() not in FEED_SUFFIXES:
                continue
            data = path.read_bytes()
            relative = path.relative_to(folder).as_posix()
            headers = {k.strip(): v.strip() for k, v in _HEADER.findall(fixture_text(data))}
            http = "http" in relative or bool(headers)
            if http:
                content_type = next(
                    (v for k, v in headers.items() if k.lower() == "content-type"), "text/xml"
                )
                headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
                headers["Content-Type"] = content_type
            name = f"{folder.parent.name}/{folder.name}/{relative}"
            fixture = Fixture(path, name, data, http, headers)
            fixture.reference = feedparser.parse(
                io.BytesIO(data),
                response_headers={k.lower(): v for k, v in headers.items()} if http else None,
            )
            fixtures.append(fixture)
    return fixtures


def serve(server: FeedServer, fixture: Fixture) -> str:
    """The URL of the fixture: on the HTTP server with its headers, or a file path."""
    if not fixture.http:
        return str(fixture.path.resolve())
    path = "/" + fixture.name
    headers = dict(fixture.headers)
    content_type = headers.pop("Content-Type")
    server.routes[path] = Route(body=fixture.data, content_type=content_type, headers=headers)
    return server.url(path)


def sources_toml(entries: list[tuple[str, str, str]]) -> str:
    """[[source]] tables for (name, url, kind); every one local (loopback and files)."""
    return "".join(
        f"[[source]]\nname = {json.dumps(name)}\nurl = {json.dumps(url)}\n"
        f'kind = "{kind}"\nlocal = true\n\n'
        for name, url, kind in entries
    )


@dataclass
class Counts:
    fixtures: int = 0
    eligible: int = 0
    readable: int = 0
    sources: int = 0
    ok: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    articles: int = 0
    feed_items: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    titles_compared: int = 0
    title_mismatches: list[tuple[str, str]] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [
            f"fixtures read: {self.fixtures}; feedparser reads an entry from {self.readable}, "
            f"a titled entry from {self.eligible} (JSON Feed included)",
            f"sources: {self.sources}, ok: {self.ok}, failed: {len(self.failed)}",
            f"items stored: {self.articles} articles, {self.feed_items} news items; "
            f"skipped: {sum(self.skipped.values())}",
        ]
        out += [f"  skipped, {reason}: {n}" for reason, n in self.skipped.most_common()]
        out.append(
            f"titles compared with feedparser's: {self.titles_compared}, "
            f"mismatches: {len(self.title_mismatches)}"
        )
        out += [f"  FAILED {name}: {why}" for name, why in sorted(self.failed.items())]
        out += [f"  TITLE {name}: {title!r}" for name, title in self.title_mismatches]
        return out


def main(argv: list[str]) -> int:
    from tests.collect.corpus_check import run_corpus

    folders = [Path(a) for a in argv] or [
        Path(__file__).resolve().parents[2].parent / "shared" / "corpora" / "feedparser"
    ]
    with tempfile.TemporaryDirectory() as tmp:
        counts, unsafe = run_corpus(load(folders), Path(tmp))
    print("\n".join(counts.lines()))
    print(f"unsafe findings in stored files and rendered pages: {len(unsafe)}")
    print("\n".join(f"  UNSAFE {hit}" for hit in unsafe[:50]))
    return 1 if counts.failed or counts.title_mismatches or unsafe else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
