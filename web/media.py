"""Files from Storage over HTTP: Range (206/416), ETag, Last-Modified, Cache-Control, HEAD.

Only keys under `articles/` and `digests/`, the two podcast feeds and their cover are served.
A key from a request goes through `check_key` (no empty, `.` or `..` segments, no backslash, no
NUL, not absolute) and, on local storage, through `LocalStorage`'s resolve-and-contain check,
so nothing outside DATA_DIR is ever opened (symlinks included).

How the bytes leave: a local range up to INLINE_MAX is one pread and one body (what players
ask for; a plain GET of one is answered before all this by web/media_ranges.py, with the same
headers), bigger answers stream; on S3 the object is HEADed and only the asked-for bytes are
fetched (a ranged GET pinned to the HEAD's ETag), never the whole object. With
MEDIA_ACCEL_PREFIX set (behind nginx, deploy/nginx.conf) the app still decides what may be
served and counts the request, and answers with X-Accel-Redirect so nginx sends the file.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from stat import S_ISREG
from typing import BinaryIO
from urllib.parse import quote

from botocore.exceptions import BotoCoreError, ClientError
from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import State
from starlette.types import ASGIApp, Receive, Scope, Send

from web.deps import get_settings_from
from web.edition_gate import edition_gate
from web.params import MAX_ID, ascii_int
from worker.storage import (
    LocalStorage,
    Storage,
    StorageError,
    check_key,
    content_type,
    get_storage,
    keys,
)
from worker.storage.s3 import ObjectChanged, S3Storage

router = APIRouter()
log = logging.getLogger(__name__)
MEDIA_PREFIX = "/media/"

# files at the top of DATA_DIR that the web serves: the feeds and the cover art they point at
ROOT_FILES = (*keys.ROOT_FEEDS, keys.COVER)
SERVED_PREFIXES = (keys.ARTICLES, keys.DIGESTS, keys.FEEDS)
CHUNK = 256 * 1024
# a range (or file) up to this size is read in one pread and sent as one body: the 64 KiB
# ranges players ask for never pay for a streaming response
INLINE_MAX = 1024 * 1024
HUGE = MAX_ID  # what an over-long Range number counts as: beyond any file
FEED_MAX_AGE_SECONDS = 300


class Unsatisfiable(Exception):
    """The Range header is well-formed but no byte of it lies inside the file."""


def servable(key: str) -> bool:
    """True for keys the web may serve; raises nothing, refuses anything odd."""
    try:
        check_key(key)
    except StorageError:
        return False
    if key.split("/")[-1].startswith("."):
        return False  # temporary files of atomic writes, dotfiles
    return key in ROOT_FILES or key.startswith(SERVED_PREFIXES)


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The single byte range `header` asks for, as inclusive (first, last), or None for all.

    None also for syntax we do not support (multiple ranges, other units, garbage): RFC 9110
    lets a server ignore Range and answer 200 with the whole file. Raises Unsatisfiable when the
    range is valid but starts beyond the end (or the file is empty).
    """
    if not header:
        return None
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first_s, dash, last_s = spec.strip().partition("-")
    first_s, last_s = first_s.strip(), last_s.strip()
    # ASCII digits only (str.isdigit() takes "²"); an offset too long to be real is "past the end"
    first = ascii_int(first_s, huge=HUGE) if first_s else None
    last = ascii_int(last_s, huge=HUGE) if last_s else None
    if not dash or (first_s and first is None) or (last_s and last is None):
        return None
    if first is None:
        if last is None:
            return None
        if last == 0 or size == 0:
            raise Unsatisfiable
        return max(0, size - last), size - 1
    if last is not None and last < first:
        return None
    if first >= size:
        raise Unsatisfiable
    return first, size - 1 if last is None else min(last, size - 1)


@dataclass(frozen=True)
class FileInfo:
    size: int
    etag: str
    last_modified: datetime | None
    # local storage: the file, opened once, so a concurrent atomic replace (re-synthesis) can
    # never pair one version's length and ETag with another version's bytes
    handle: BinaryIO | None = None
    # S3: the object is only HEADed here; its bytes come from a ranged GET pinned to this ETag
    remote: S3Storage | None = None

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()


def file_info(storage: Storage, key: str) -> FileInfo | None:
    """Size, validators and the content source; None when there is no such file."""
    if isinstance(storage, LocalStorage):
        try:
            handle = storage.open_contained(key)
        except (OSError, StorageError):  # missing, a directory, unreadable, outside the root
            return None
        stat = os.fstat(handle.fileno())
        if not S_ISREG(stat.st_mode):
            handle.close()
            return None
        mtime = datetime.fromtimestamp(int(stat.st_mtime), UTC)
        etag = f'"{stat.st_size:x}-{stat.st_mtime_ns:x}"'
        return FileInfo(stat.st_size, etag, mtime, handle=handle)
    if not isinstance(storage, S3Storage):
        return None  # no other remote storage exists; never read a whole object to serve a part
    try:
        found = storage.stat(key)
    except (StorageError, ClientError, BotoCoreError):
        return None
    if found is None:
        return None
    modified = (
        found.last_modified.astimezone(UTC).replace(microsecond=0)
        if found.last_modified is not None
        else None
    )
    return FileInfo(found.size, found.etag, modified, remote=storage)


def _read_at(handle: BinaryIO, first: int, length: int) -> bytes:
    """`length` bytes at `first` with pread (no shared file position, one call for a range)."""
    parts = []
    fd = handle.fileno()
    while length > 0:
        chunk = os.pread(fd, length, first)
        if not chunk:
            break
        parts.append(chunk)
        first += len(chunk)
        length -= len(chunk)
    return b"".join(parts)


def _iter_handle(handle: BinaryIO, first: int, length: int) -> Iterator[bytes]:
    try:
        left = length
        while left > 0:
            chunk = _read_at(handle, first, min(CHUNK, left))
            if not chunk:
                break
            first += len(chunk)
            left -= len(chunk)
            yield chunk
    finally:
        handle.close()


def _not_modified(request: Request, info: FileInfo) -> bool:
    inm = request.headers.get("if-none-match")
    if inm is not None:
        tags = [t.strip().removeprefix("W/") for t in inm.split(",")]
        return "*" in tags or info.etag in tags
    ims = request.headers.get("if-modified-since")
    if ims and info.last_modified is not None:
        try:
            since = parsedate_to_datetime(ims)
        except (TypeError, ValueError, IndexError, OverflowError):
            return False
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        return info.last_modified <= since
    return False


def _if_range_allows(request: Request, info: FileInfo) -> bool:
    value = request.headers.get("if-range")
    if value is None:
        return True
    value = value.strip()
    if value.startswith(('"', "W/")):
        return value == info.etag  # strong comparison, as RFC 9110 requires for If-Range
    if info.last_modified is None:
        return False
    try:
        return parsedate_to_datetime(value) == info.last_modified
    except (TypeError, ValueError, IndexError, OverflowError):
        return False


def serve(request: Request, storage: Storage, key: str, max_age: int) -> Response:
    """Answer GET/HEAD for `key` (already checked with `servable`)."""
    for _ in range(2):  # once more if an S3 object was replaced between its HEAD and GET
        info = file_info(storage, key)
        if info is None:
            return Response("not found\n", status_code=404, media_type="text/plain")
        streaming = False
        try:
            response = _answer(request, info, key, max_age)
            streaming = isinstance(response, StreamingResponse)
            return response
        except ObjectChanged:
            continue
        except FileNotFoundError:
            return Response("not found\n", status_code=404, media_type="text/plain")
        finally:
            if not streaming:  # the stream closes the file when it ends
                info.close()
    return Response(
        "the file is being replaced; try again\n",
        status_code=503,
        headers={"Retry-After": "1"},
        media_type="text/plain",
    )


def _answer(request: Request, info: FileInfo, key: str, max_age: int) -> Response:
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": info.etag,
        "Cache-Control": f"public, max-age={max_age}",
    }
    if info.last_modified is not None:
        headers["Last-Modified"] = format_datetime(info.last_modified, usegmt=True)
    if _not_modified(request, info):
        return Response(status_code=304, headers=headers)
    ctype = content_type(key)
    try:
        wanted = parse_range(request.headers.get("range"), info.size)
    except Unsatisfiable:
        headers["Content-Range"] = f"bytes */{info.size}"
        return Response(status_code=416, headers=headers)
    if wanted is not None and not _if_range_allows(request, info):
        wanted = None
    first, last = wanted if wanted is not None else (0, info.size - 1)
    length = max(0, last - first + 1)
    status = 206 if wanted is not None else 200
    if wanted is not None:
        headers["Content-Range"] = f"bytes {first}-{last}/{info.size}"
    headers["Content-Length"] = str(length)
    if request.method == "HEAD" or length == 0:
        return Response(status_code=status, headers=headers, media_type=ctype)
    if info.handle is not None:
        if length <= INLINE_MAX:
            body = _read_at(info.handle, first, length)
            return Response(body, status_code=status, headers=headers, media_type=ctype)
        return StreamingResponse(
            _iter_handle(info.handle, first, length),
            status_code=status,
            headers=headers,
            media_type=ctype,
        )
    assert info.remote is not None
    # only the asked-for bytes leave S3 (a ranged GET), streamed as they arrive
    chunks = info.remote.open_range(key, first, last, info.etag)
    return StreamingResponse(chunks, status_code=status, headers=headers, media_type=ctype)


def accel_redirect(storage: LocalStorage, key: str, prefix: str, max_age: int) -> Response:
    """nginx sends the bytes: the app has decided the key may be served and the file exists
    (the same checks as serving it), and names it under nginx's internal location."""
    info = file_info(storage, key)
    if info is None:
        return Response("not found\n", status_code=404, media_type="text/plain")
    info.close()
    return Response(
        status_code=200,
        headers={
            "X-Accel-Redirect": prefix + quote(key, safe="/"),
            "Cache-Control": f"public, max-age={max_age}",
        },
        media_type=content_type(key),
    )


def max_age_of(key: str, media_max_age: int) -> int:
    if key.endswith(".xml"):
        # feeds change when a day is published; apps poll, and revalidate cheaply via the ETag
        return min(media_max_age, FEED_MAX_AGE_SECONDS)
    return media_max_age


def app_storage(state: State) -> Storage:
    """The app's storage, built once (settings never change under a running app)."""
    found: Storage | None = getattr(state, "media_storage", None)
    if found is None:
        found = state.media_storage = get_storage(state.settings)
    return found


async def _serve_key(request: Request, key: str) -> Response:
    if not servable(key):
        return Response("not found\n", status_code=404, media_type="text/plain")
    settings = get_settings_from(request)
    gate = edition_gate(request.app.state)
    allowed = gate.known(key)
    if allowed is None:
        allowed = await run_in_threadpool(gate.allows, settings, key)
    if not allowed:  # an edition that has not gone out (or was stopped): as if absent
        return Response("not found\n", status_code=404, media_type="text/plain")
    max_age = max_age_of(key, settings.media_max_age_seconds)
    storage = app_storage(request.app.state)
    if isinstance(storage, LocalStorage):
        # a local file's open, fstat and one pread take microseconds from the page cache: done
        # right here, without the thread hop that cost more than the work itself
        if settings.media_accel_prefix:
            return accel_redirect(storage, key, settings.media_accel_prefix, max_age)
        return serve(request, storage, key, max_age)
    # S3: network round trips, in a worker thread
    return await run_in_threadpool(serve, request, storage, key, max_age)


@router.api_route("/media/{key:path}", methods=["GET", "HEAD"], include_in_schema=False)
async def media(request: Request, key: str) -> Response:
    return await _serve_key(request, key)


@router.api_route("/podcast.xml", methods=["GET", "HEAD"], include_in_schema=False)
async def podcast_feed(request: Request) -> Response:
    return await _serve_key(request, "podcast.xml")


@router.api_route("/briefing.xml", methods=["GET", "HEAD"], include_in_schema=False)
async def briefing_feed(request: Request) -> Response:
    return await _serve_key(request, "briefing.xml")


@router.api_route("/feeds/{slug}/{name}", methods=["GET", "HEAD"], include_in_schema=False)
async def newsletter_feed(request: Request, slug: str, name: str) -> Response:
    """Another newsletter's briefing or article feed (worker/audio/podcast.py *_feed_key)."""
    if name not in ("briefing.xml", "podcast.xml") or not slug.replace("-", "x").isalnum():
        return Response("not found\n", status_code=404, media_type="text/plain")
    return await _serve_key(request, f"feeds/{slug}/{name}")


class MediaFastPath:
    """`/media/...` answered before FastAPI's router and dependency machinery, which cost more
    than the file work for a 64 KiB range. Same function, same checks as the route above (it
    stays as the documented endpoint); the outer layers (headers, metrics) still wrap it, and
    the endpoint is named in the scope so the request is counted under "media"."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not path.startswith(MEDIA_PREFIX) or scope.get("method") not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        scope["endpoint"] = media
        try:
            response = await _serve_key(Request(scope, receive), path[len(MEDIA_PREFIX) :])
        except Exception:  # never a bare connection drop: the same plain 500 as elsewhere
            log.exception("serving %s failed", path)
            response = Response("server error\n", status_code=500, media_type="text/plain")
        await response(scope, receive, send)
