"""uvicorn's httptools protocol with a response's head and first body part sent in one write.

uvicorn writes the status line and headers to the socket as soon as the app sends
`http.response.start`, and the body on `http.response.body`: two sends, two packets, and the
client woken twice per answer. Under wrk (bench/media.py) a worker was most often found inside
that first write, where the kernel hands the CPU to the woken client before the body is even
written. Here writes made in one turn of the event loop go out together (one writev), as
nginx does with tcp_nopush: the head waits at most until the end of the current loop turn
(`call_soon`), so a streaming answer's head is never held back behind a slow body.

Only the transport the protocol writes through is wrapped; parsing, limits, timeouts, proxy
headers and logging stay uvicorn's own.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class HeldWrites:
    """A transport whose writes within one loop turn are sent as one (order kept)."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._held:
            self._loop.call_soon(self.flush)
        self._held.append(data)

    def flush(self) -> None:
        if not self._held:
            return
        held, self._held = self._held, []
        if self._transport.is_closing():
            return  # as a write to a closing transport: dropped
        if len(held) == 1:
            self._transport.write(held[0])
        else:
            self._transport.writelines(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:  # pause_reading, get_extra_info, abort, ...
        return getattr(self._transport, name)


class OneWriteHttpToolsProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(HeldWrites(transport, self.loop))  # type: ignore[arg-type]
