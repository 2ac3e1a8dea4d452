"""Fetching feeds and pages: polite (conditional GET, gzip), bounded (time, size, redirects), safe.

Safety: for a source not marked `local`, every TCP connection goes through `GuardedBackend`,
which resolves the host itself, refuses loopback/private/link-local/reserved addresses, and
connects to the checked address (so DNS rebinding between check and connect is impossible).
Because the guard sits at the connection level, it also applies after every redirect.
file:// is served only for local sources.

Politeness: with `slots` (worker.collect.politeness) each hop holds one of the few slots of its
host for the time of its request, so sources of one host never hit it all at once.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import time
import typing
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from email.utils import formatdate
from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import certifi
import httpcore
import httpx

from worker.retry_after import parse_retry_after

USER_AGENT = "digestcast/0.1 (+https://github.com/digestcast; feed collector)"
_REDIRECTS = {301, 302, 303, 307, 308}


class FetchError(Exception):
    """A fetch failed; str() is a readable reason for ops (stored as Source.last_error)."""


class RateLimitedError(FetchError):
    """The server asked us to come back later (429, or 503 with Retry-After)."""

    def __init__(self, reason: str, retry_after_seconds: float) -> None:
        super().__init__(reason)
        self.retry_after_seconds = retry_after_seconds


class HostBusyError(RateLimitedError):
    """Every fetch slot of a host stayed taken for the whole bounded wait: try again later."""


class HostSlots(typing.Protocol):
    """At most a few fetches at once to one host (worker.collect.politeness)."""

    def hold(self, host: str) -> AbstractContextManager[None]: ...


class BlockedAddressError(Exception):
    """Raised inside the connection layer when a target address is not public."""


@dataclass(frozen=True)
class FetchResult:
    url: str  # the final URL after redirects
    status: int  # 200, or 304 when not modified
    content: bytes = b""
    content_type: str = ""
    etag: str | None = None
    last_modified: str | None = None

    @property
    def not_modified(self) -> bool:
        return self.status == 304


@dataclass(frozen=True)
class FetchLimits:
    timeout: float = 20.0
    max_bytes: int = 10_000_000
    max_redirects: int = 5


def is_public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _display(seconds: float) -> str:
    return f"{seconds:g} s"


class GuardedBackend(httpcore.NetworkBackend):
    """Resolve, check every address, connect only to a checked public one."""

    def __init__(self, allowed: Callable[[str], bool] = is_public_address) -> None:
        self._inner = httpcore.SyncBackend()
        self._allowed = allowed

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[typing.Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        addresses = [str(info[4][0]) for info in infos]
        blocked = [a for a in addresses if not self._allowed(a)]
        if blocked or not addresses:
            # any non-public answer refuses the host: a mixed answer is a rebinding smell
            raise BlockedAddressError(
                f"refused {host} -> {blocked[0] if blocked else 'nothing'}: "
                "not a public address (mark the source `local = true` to allow it)"
            )
        return self._inner.connect_tcp(
            addresses[0], port, timeout, local_address=local_address, socket_options=socket_options
        )

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[typing.Any] | None = None,
    ) -> httpcore.NetworkStream:
        raise BlockedAddressError("unix sockets are not allowed")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


@lru_cache(maxsize=1)
def _ssl_context() -> ssl.SSLContext:
    # loading the CA bundle costs ~15 ms: once per process, not once per source
    return ssl.create_default_context(cafile=certifi.where())


class GuardedTransport(httpx.HTTPTransport):
    def __init__(self, allowed: Callable[[str], bool] = is_public_address) -> None:
        super().__init__(verify=_ssl_context(), trust_env=False)
        # same pool as httpx builds, with the guarded network backend plugged in
        self._pool = httpcore.ConnectionPool(
            ssl_context=_ssl_context(),
            max_connections=20,
            max_keepalive_connections=10,
            network_backend=GuardedBackend(allowed),
        )


def make_client(
    *, local: bool, timeout: float, allowed: Callable[[str], bool] = is_public_address
) -> httpx.Client:
    """A client for one source; `local` disables the address guard (`allowed` is for tests)."""
    transport: httpx.HTTPTransport = (
        httpx.HTTPTransport(verify=_ssl_context(), trust_env=False)
        if local
        else GuardedTransport(allowed)
    )
    return httpx.Client(
        transport=transport,
        timeout=httpx.Timeout(timeout),
        follow_redirects=False,  # followed by hand: counted, scheme-checked, reported
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate"},
        trust_env=False,
    )


def _read_file(url: str, limits: FetchLimits, last_modified: str | None) -> FetchResult:
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise FetchError(f"file URL with a host is not supported: {url}")
    path = Path(unquote(parts.path))
    try:
        stat = path.stat()
        mtime = formatdate(stat.st_mtime, usegmt=True)
        if last_modified is not None and last_modified == mtime:
            return FetchResult(url=url, status=304, last_modified=mtime)
        if stat.st_size > limits.max_bytes:
            raise FetchError(f"body over {limits.max_bytes} bytes from {url}")
        with path.open("rb") as handle:
            data = handle.read(limits.max_bytes + 1)
    except FileNotFoundError as exc:
        raise FetchError(f"file not found: {path}") from exc
    except IsADirectoryError as exc:
        raise FetchError(f"is a directory: {path}") from exc
    except OSError as exc:
        raise FetchError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if len(data) > limits.max_bytes:
        raise FetchError(f"body over {limits.max_bytes} bytes from {url}")
    return FetchResult(url=url, status=200, content=data, last_modified=mtime)


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchError(f"refusing to fetch {url!r}: only http(s) URLs")


def fetch(
    url: str,
    *,
    local: bool,
    limits: FetchLimits,
    etag: str | None = None,
    last_modified: str | None = None,
    client: httpx.Client | None = None,
    accept: str = "application/rss+xml, application/atom+xml, application/feed+json, "
    "application/json;q=0.9, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5",
    slots: HostSlots | None = None,
) -> FetchResult:
    """GET `url` (conditional when validators are given); FetchError carries a readable reason."""
    if urlsplit(url).scheme == "file":
        if not local:
            raise FetchError(f"refusing {url}: file:// is allowed only for local sources")
        return _read_file(url, limits, last_modified)
    own = client is None
    http = client if client is not None else make_client(local=local, timeout=limits.timeout)
    deadline = time.monotonic() + limits.timeout * 3
    try:
        return _fetch_http(url, http, limits, etag, last_modified, accept, deadline, slots)
    except httpx.TimeoutException as exc:
        raise FetchError(f"timed out after {_display(limits.timeout)} fetching {url}") from exc
    except BlockedAddressError as exc:
        raise FetchError(str(exc)) from exc
    except httpx.TooManyRedirects as exc:  # pragma: no cover - redirects are followed by hand
        raise FetchError(str(exc)) from exc
    except httpx.DecodingError as exc:
        raise FetchError(f"cannot decode the body from {url}: {exc}") from exc
    except (httpx.HTTPError, httpx.InvalidURL, httpcore.ConnectError) as exc:
        raise FetchError(f"cannot fetch {url}: {exc or type(exc).__name__}") from exc
    finally:
        if own:
            http.close()


def _fetch_http(
    url: str,
    http: httpx.Client,
    limits: FetchLimits,
    etag: str | None,
    last_modified: str | None,
    accept: str,
    deadline: float,
    slots: HostSlots | None = None,
) -> FetchResult:
    headers = {"Accept": accept}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    current = url
    for _hop in range(limits.max_redirects + 1):
        _check_url(current)
        host = (urlsplit(current).hostname or "").lower()
        # one slot per hop, released before the next: two redirect chains never wait on each other
        with (
            slots.hold(host) if slots is not None else nullcontext(),
            http.stream("GET", current, headers=headers) as response,
        ):
            if response.status_code in _REDIRECTS:
                location = response.headers.get("location")
                if not location:
                    raise FetchError(f"HTTP {response.status_code} without Location from {current}")
                current = urljoin(current, location)
                continue
            if response.status_code == 304:
                return FetchResult(
                    url=current,
                    status=304,
                    etag=response.headers.get("etag") or etag,
                    last_modified=response.headers.get("last-modified") or last_modified,
                )
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            if response.status_code == 429 or (response.status_code == 503 and retry_after):
                wait = retry_after if retry_after is not None else 0.0
                raise RateLimitedError(
                    f"HTTP {response.status_code} from {current}: the server asks to wait "
                    f"{_display(wait)}"
                    if wait
                    else f"HTTP {response.status_code} from {current}",
                    wait,
                )
            if response.status_code != 200:
                raise FetchError(f"HTTP {response.status_code} from {current}")
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > limits.max_bytes:
                raise FetchError(f"body over {limits.max_bytes} bytes from {current}")
            chunks: list[bytes] = []
            size = 0
            # iter_bytes decodes gzip, so the cap also stops decompression bombs
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > limits.max_bytes:
                    raise FetchError(f"body over {limits.max_bytes} bytes from {current}")
                if time.monotonic() > deadline:
                    total = _display(limits.timeout * 3)
                    raise FetchError(f"timed out after {total} (whole body) fetching {current}")
                chunks.append(chunk)
            return FetchResult(
                url=current,
                status=200,
                content=b"".join(chunks),
                content_type=response.headers.get("content-type", ""),
                etag=response.headers.get("etag"),
                last_modified=response.headers.get("last-modified"),
            )
    raise FetchError(f"more than {limits.max_redirects} redirects from {url}")
