"""web/onewrite.py under a real uvicorn: answers arrive whole and in order, keep-alive works,
and a streamed answer's head is not held back behind a slow body."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from starlette.types import Receive, Scope, Send

from tests.conftest import free_port
from web.serve import ONE_WRITE_PROTOCOL

BODY = bytes(range(256)) * 256  # 64 KiB


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    if scope["path"] == "/slow":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await asyncio.sleep(1.5)
        await send({"type": "http.response.body", "body": b"late"})
        return
    headers = [(b"content-length", str(len(BODY)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": BODY[:1000], "more_body": True})
    await send({"type": "http.response.body", "body": BODY[1000:]})


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    port = free_port()
    config = uvicorn.Config(app, port=port, http=ONE_WRITE_PROTOCOL, log_config=None)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield port
    server.should_exit = True
    thread.join(10)


def read_answer(sock: socket.socket) -> tuple[bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    while len(body) < length:
        body += sock.recv(65536)
    return head, body


def test_answers_arrive_whole_and_in_order(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        for _ in range(3):  # keep-alive: the same connection, answer after answer
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            head, body = read_answer(sock)
            assert head.startswith(b"HTTP/1.1 200 ") and body == BODY


def test_a_streamed_head_is_not_held_behind_its_body(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        start = time.monotonic()
        first = sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200 ")
        assert time.monotonic() - start < 1.0  # the head came before the body's 1.5 s
        rest = first
        while not rest.endswith(b"0\r\n\r\n"):
            rest += sock.recv(65536)
        assert b"late" in rest
