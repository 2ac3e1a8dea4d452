"""The hot path of /media/: a player's byte range of a local file, answered in raw ASGI.

An `<audio>` element fetches a file as a run of ranges. Through FastAPI and our three
middleware layers each one cost more Python than the file work: profiled under wrk,
`digestcast web` spent ~70% of a worker's time in the interpreter and only ~20% in the kernel.
This layer sits outside all of them and answers the plain case itself, in one function:

  GET, local storage, no MEDIA_ACCEL_PREFIX, no conditional header (If-None-Match,
  If-Modified-Since, If-Range), a key `servable` accepts, a regular file inside DATA_DIR
  (`LocalStorage.open_fd_contained`, the same open-then-check as web/media.py), and a range
  (or file) of 1 to INLINE_MAX bytes: open, fstat, one pread, close, two sends.

Everything else (HEAD, 304, 416, 404, conditionals, bigger answers, S3, X-Accel, any error)
goes on to the full stack unchanged, so web/media.py stays the one definition of those answers.
What that stack adds to every answer is added here with the same values: the security headers
(web/security.py) and the request counters (web/observe.py, endpoint "media"). The file is
opened and checked on every request (a removed file is never served); only the verdict of
`servable` on a key and the headers built for one version of a file are kept, in bounded dicts.
"""

from __future__ import annotations

import logging
import os
import re
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from stat import S_ISREG

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Receive, Scope, Send

from web.edition_gate import EditionGate, edition_gate
from web.media import (
    INLINE_MAX,
    MEDIA_PREFIX,
    Unsatisfiable,
    app_storage,
    max_age_of,
    parse_range,
    servable,
)
from web.observe import HTTP_REQUESTS, HTTP_SECONDS
from web.security import security_headers
from worker.storage import LocalStorage, StorageError, content_type

log = logging.getLogger(__name__)
ENDPOINT = "media"  # the label web/media.py's route counts under
CONDITIONAL = frozenset((b"if-none-match", b"if-modified-since", b"if-range"))
KEPT = 4096  # entries per cache; a full cache is emptied (keys are few: the day's files)
FileVersion = tuple[str, bool, int, int, int, int]  # key, https, dev, inode, size, mtime_ns


def _full_type(key: str) -> bytes:
    # as Starlette's Response does for media_type: text without a charset gets utf-8
    ctype = content_type(key)
    if ctype.startswith("text/") and "charset=" not in ctype.lower():
        ctype += "; charset=utf-8"
    return ctype.encode("latin-1")


# what players send; anything else goes through parse_range (same answers, more steps)
PLAIN_RANGE = re.compile(rb"bytes=([0-9]{1,15})-([0-9]{1,15})")


def _wanted(header: bytes | None, size: int) -> tuple[int, int] | None:
    """parse_range's answer, read quicker for the plain `bytes=first-last`."""
    plain = PLAIN_RANGE.fullmatch(header) if header is not None else None
    if plain is None:
        return parse_range(header.decode("latin-1") if header is not None else None, size)
    first, last = int(plain[1]), int(plain[2])
    if last < first:
        return None
    if first >= size:
        raise Unsatisfiable
    return first, min(last, size - 1)


class RangeFastPath:
    def __init__(self, app: ASGIApp, full: ASGIApp) -> None:
        self.app = app  # the FastAPI app: its state holds the settings and the storage
        self.full = full  # the whole stack, for everything this path does not answer
        self.storage: LocalStorage | None = None
        self.ready = False
        # a key's path under the root (None: not servable); the file is opened every time
        self.paths: dict[str, str | None] = {}
        self.headers: dict[FileVersion, list[tuple[bytes, bytes]]] = {}
        self.counters: dict[int, Counter] = {}
        self.seconds: Histogram | None = None
        self.gate = EditionGate()  # replaced by the app's own on first use

    def _local(self) -> LocalStorage | None:
        if not self.ready:
            state = self.app.state  # type: ignore[attr-defined]
            storage = app_storage(state)
            self.gate = edition_gate(state)
            if isinstance(storage, LocalStorage) and not state.settings.media_accel_prefix:
                self.storage = storage
                self.max_age = state.settings.media_max_age_seconds
            self.ready = True
        return self.storage

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or not scope["path"].startswith(MEDIA_PREFIX)
        ):
            await self.full(scope, receive, send)
            return
        started = time.perf_counter()
        try:
            answer = self._answer(scope)
        except Exception:  # the full stack answers (and logs) whatever went wrong here
            log.debug("fast path declined %s", scope["path"], exc_info=True)
            answer = None
        if answer is None:
            await self.full(scope, receive, send)
            return
        status, headers, body = answer
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        counter = self.counters.get(status)
        if counter is None:
            counter = self.counters[status] = HTTP_REQUESTS.labels(ENDPOINT, "GET", str(status))
            self.seconds = HTTP_SECONDS.labels(ENDPOINT)
        counter.inc()
        assert self.seconds is not None
        self.seconds.observe(time.perf_counter() - started)

    def _answer(self, scope: Scope) -> tuple[int, list[tuple[bytes, bytes]], bytes] | None:
        """(status, headers, body) of the plain case, or None for the full stack to answer."""
        storage = self._local()
        if storage is None:
            return None
        wanted_header: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"range":
                if wanted_header is None:
                    wanted_header = value
            elif name in CONDITIONAL:
                return None
        key: str = scope["path"][len(MEDIA_PREFIX) :]
        try:
            path = self.paths[key]
        except KeyError:
            if len(self.paths) >= KEPT:
                self.paths.clear()
            path = self.paths[key] = storage.path_of(key) if servable(key) else None
        if path is None:
            return None  # not servable: the full stack's 404
        if self.gate.known(key) is not True:
            return None  # an edition's file not known to be public: the full stack asks
        try:
            fd = storage.open_fd_at(path)
        except (OSError, StorageError):
            return None  # missing, unreadable, outside the root: the full stack's 404
        try:
            stat = os.fstat(fd)
            if not S_ISREG(stat.st_mode):
                return None
            size = stat.st_size
            try:
                wanted = _wanted(wanted_header, size)
            except Unsatisfiable:
                return None  # the full stack's 416
            first, last = wanted if wanted is not None else (0, size - 1)
            length = last - first + 1
            if length <= 0 or length > INLINE_MAX:
                return None
            body = os.pread(fd, length, first)
        finally:
            os.close(fd)
        if len(body) != length:
            return None  # the file shrank under us: the full stack looks again
        version = (
            key,
            scope.get("scheme") == "https",
            stat.st_dev,
            stat.st_ino,
            size,
            stat.st_mtime_ns,
        )
        headers = self.headers.get(version)
        if headers is None:
            headers = self._headers_of(version, int(stat.st_mtime))
        if wanted is None:
            return 200, [*headers, (b"content-length", b"%d" % length)], body
        return (
            206,
            [
                *headers,
                (b"content-range", b"bytes %d-%d/%d" % (first, last, size)),
                (b"content-length", b"%d" % length),
            ],
            body,
        )

    def _headers_of(self, version: FileVersion, mtime: int) -> list[tuple[bytes, bytes]]:
        """What web/media.py's `_answer` and SecurityHeaders put on this file's answers."""
        key, https, _dev, _ino, size, mtime_ns = version
        modified = datetime.fromtimestamp(mtime, UTC)
        headers = [
            (b"accept-ranges", b"bytes"),
            (b"etag", f'"{size:x}-{mtime_ns:x}"'.encode()),
            (b"cache-control", f"public, max-age={max_age_of(key, self.max_age)}".encode()),
            (b"last-modified", format_datetime(modified, usegmt=True).encode()),
            (b"content-type", _full_type(key)),
            *security_headers(https),
        ]
        if len(self.headers) >= KEPT:
            self.headers.clear()
        self.headers[version] = headers
        return headers
