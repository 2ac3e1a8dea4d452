"""A local stand-in for Google Translate's batchexecute TTS endpoint (what gTTS 2.5.4 talks to).

It parses the form POST `f.req=[[["jQ1olc","[text, lang, speed, \"null\"]",null,"generic"]]]`
and answers like Google: `)]}'`, then length-prefixed JSON lines, one of them holding
`["wrb.fr","jQ1olc","[\"<base64 mp3>\"]",...]`. The audio is a real MP3 (lameenc, 24 kHz mono
like Google's), a tone whose pitch and length depend on the text, wrapped in an ID3v2 tag naming
the text, so tests can tell chunks apart and the joiner has tags to strip.

Scripted faults, consumed one per request in arrival order: "429", "429:<retry-after>", "500",
"503", "403", "garbage" (200 with non-MP3 audio), "drop" (close the connection without
answering), "slow:<seconds>", "noaudio", "ok".
`latency` delays every answer. It counts requests and the peak number in flight.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import socket
import struct
import threading
import time
import urllib.parse
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import lameenc


def tone_mp3(text: str, *, id3: bool = True) -> bytes:
    """A real, distinct MP3 for `text`: 24 kHz mono 32 kbit/s (Google's format)."""
    digest = hashlib.sha256(text.encode()).digest()
    rate = 24000
    seconds = min(3.0, 0.12 + 0.01 * len(text))
    period = 30 + digest[0] % 50  # samples per cycle: the pitch tells chunks apart by ear
    cycle = struct.pack(
        f"<{period}h", *(int(8000 * math.sin(2 * math.pi * i / period)) for i in range(period))
    )
    pcm = cycle * (int(rate * seconds) // period)
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(32)
    encoder.set_in_sample_rate(rate)
    encoder.set_out_sample_rate(rate)
    encoder.set_channels(1)
    encoder.set_quality(7)
    data = bytes(encoder.encode(pcm)) + bytes(encoder.flush())
    if not id3:
        return data
    title = text.encode("utf-8")
    frame = b"TIT2" + struct.pack(">I", len(title) + 1) + b"\0\0" + b"\x03" + title
    size = len(frame)
    syncsafe = bytes([(size >> 21) & 0x7F, (size >> 14) & 0x7F, (size >> 7) & 0x7F, size & 0x7F])
    return b"ID3\x04\x00\x00" + syncsafe + frame + data


def google_answer(mp3: bytes) -> bytes:
    payload = json.dumps([base64.b64encode(mp3).decode()], separators=(",", ":"))
    line1 = json.dumps(
        [["wrb.fr", "jQ1olc", payload, None, None, None, "generic"], ["di", 57]],
        separators=(",", ":"),
    )
    line2 = json.dumps([["e", 4, None, None, len(line1) + 30]], separators=(",", ":"))
    return f")]}}'\n\n{len(line1)}\n{line1}\n{len(line2)}\n{line2}\n".encode()


def parse_request(body: bytes) -> tuple[str, str, Any]:
    """(text, lang, speed) from a gTTS batchexecute form body."""
    form = urllib.parse.parse_qs(body.decode("ascii"))
    rpc = json.loads(form["f.req"][0])
    assert rpc[0][0][0] == "jQ1olc", rpc
    text, lang, speed, _ = json.loads(rpc[0][0][1])
    return text, lang, speed


class Emulator:
    def __init__(self, *, latency: float = 0.0, id3: bool = True) -> None:
        self.latency = latency
        self.id3 = id3
        self.script: deque[str] = deque()
        self.lock = threading.Lock()
        self.requests = 0
        self.ok = 0
        self.texts: list[str] = []  # successfully answered chunk texts, in answer order
        self.received: list[str] = []  # every request's text, in arrival order
        self.in_flight = 0
        self.peak_in_flight = 0
        self.connections = 0
        self._audio: dict[str, bytes] = {}
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, like Google
            disable_nagle_algorithm = True  # no 40 ms Nagle/delayed-ACK stalls on keep-alive

            def setup(self) -> None:
                super().setup()
                with emulator.lock:
                    emulator.connections += 1

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                if self.path == "/__reset":
                    emulator.reset_counts()
                    emulator._send(self, 204, b"")
                    return
                emulator._handle(self)

            def do_GET(self) -> None:
                if self.path == "/__stats":  # for a emulator running in another process
                    emulator._send(self, 200, json.dumps(emulator.stats()).encode())
                else:
                    emulator._send(self, 404, b"")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    # ------------------------------------------------------------ control
    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/_/TranslateWebserverUi/data/batchexecute"

    def start(self) -> Emulator:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def fail(self, *actions: str) -> None:
        with self.lock:
            self.script.extend(actions)

    def reset_counts(self) -> None:
        with self.lock:
            self.requests = self.ok = self.connections = self.peak_in_flight = 0
            self.texts.clear()
            self.received.clear()

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "requests": self.requests,
                "ok": self.ok,
                "connections": self.connections,
                "peak_in_flight": self.peak_in_flight,
                "received": list(self.received),
            }

    def audio_for(self, text: str) -> bytes:
        with self.lock:
            cached = self._audio.get(text)
        if cached is None:
            cached = tone_mp3(text, id3=self.id3)  # outside the lock: answers stay concurrent
            with self.lock:
                self._audio[text] = cached
        return cached

    # ------------------------------------------------------------ serving
    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length)
        with self.lock:
            self.requests += 1
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            action = self.script.popleft() if self.script else "ok"
        try:
            try:
                text, _lang, _speed = parse_request(body)
            except (KeyError, ValueError, IndexError, AssertionError):
                self._send(handler, 400, b"Bad Request")  # what Google says to a bad f.req
                return
            with self.lock:
                self.received.append(text)
            if self.latency:
                time.sleep(self.latency)
            if action.startswith("slow:"):
                time.sleep(float(action.split(":", 1)[1]))
                action = "ok"
            if action == "drop":
                handler.close_connection = True
                handler.connection.shutdown(socket.SHUT_RDWR)
                return
            if action.startswith("429"):
                extra = {}
                if ":" in action:
                    extra["Retry-After"] = action.split(":", 1)[1]
                self._send(handler, 429, b"Too Many Requests", extra)
                return
            if action in ("400", "403", "500", "503"):
                self._send(handler, int(action), b"Server Error")
                return
            if action == "garbage":  # 200 with base64 that is not MP3 audio
                self._send(handler, 200, google_answer(b"<html>not audio</html>" * 20))
                return
            if action == "noaudio":
                self._send(handler, 200, b')]}\'\n\n20\n[["wrb.fr","jQ1olc",null]]\n')
                return
            answer = google_answer(self.audio_for(text))
            with self.lock:
                self.ok += 1
                self.texts.append(text)
            self._send(handler, 200, answer, {"Content-Type": "application/json; charset=utf-8"})
        finally:
            with self.lock:
                self.in_flight -= 1

    @staticmethod
    def _send(
        handler: BaseHTTPRequestHandler,
        status: int,
        body: bytes,
        headers: dict[str, str] | None = None,
    ) -> None:
        try:
            handler.send_response(status)
            for name, value in (headers or {}).items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            handler.close_connection = True  # the client gave up (timeout test): fine


def serve_in_process(latency: float, conn: Any) -> None:
    """Run an emulator until told to stop; sends its URL through `conn` (a multiprocessing pipe).

    The benchmark runs the emulator in its own process, as Google is: sharing the client's GIL
    would charge the server's work to the client being measured.
    """
    server = Emulator(latency=latency).start()
    conn.send(server.url)
    conn.recv()  # any message: stop
    server.stop()
