"""Browser-test fixtures: Debian's Chromium driven by Playwright, uvicorn serving the app in a
thread on 127.0.0.1, and a real aiosmtpd server catching its mail."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from tests.conftest import free_port, smtp_server_for
from web.app import create_app
from worker.settings import Settings

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-dev-shm-usage",
    "--autoplay-policy=no-user-gesture-required",
    "--mute-audio",
]

BROWSER_MARKS = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.skipif(
        not CHROMIUM.exists() and os.environ.get("REQUIRE_SERVICES") != "1",
        reason="/usr/bin/chromium missing (apt-get install chromium; CI installs it)",
    ),
]


@dataclass
class Inbox:
    messages: list[EmailMessage] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))  # type: ignore[arg-type]
        return "250 OK"

    def wait(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.messages


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    handler = Inbox()
    with smtp_server_for(handler) as port:
        yield handler, port


@contextmanager
def app_in_thread(settings: Settings, port: int) -> Iterator[None]:
    """uvicorn serving create_app(settings) on 127.0.0.1:port in a thread."""
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def live(web_settings: Settings, inbox: tuple[Inbox, int]) -> Iterator[tuple[str, Settings]]:
    """The app in a thread; mail goes to the aiosmtpd server."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = web_settings.model_copy(
        update={"public_base_url": base, "smtp_url": f"smtp://127.0.0.1:{inbox[1]}"}
    )
    try:
        with app_in_thread(settings, port):
            yield base, settings
    finally:
        from worker.delivery.outbound import close_transports

        close_transports()


@pytest.fixture
def pw() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture
def browser(pw: Any) -> Iterator[Any]:
    b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    try:
        yield b
    finally:
        b.close()
