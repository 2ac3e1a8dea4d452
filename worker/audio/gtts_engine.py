"""gTTS, fast and polite: gTTS's own tokenizer and request format, our own transport.

Stock `gTTS.save()` sends the 100-character chunks one after another, each on a new connection,
with no timeout and no retry. Here the same chunks (gTTS's pre-processors, tokenizer and
`_package_rpc`, so Google sees exactly what gTTS would send) go out concurrently, bounded by
GTTS_CONCURRENCY, over one keep-alive httpx client; 429/5xx/timeouts/dropped connections are
retried with exponential backoff and full jitter, honouring Retry-After; every request first takes
a token from the shared rate limiter. Chunk audio is cached in storage by hash of (text, lang,
tld, slow), so an unchanged article costs no request and an edit only its changed chunks.
"""

from __future__ import annotations

import atexit
import base64
import binascii
import hashlib
import json
import os
import random
import re
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
from gtts import gTTS

from worker.audio import mp3
from worker.audio.ratelimit import limiter_for
from worker.ratelimit import RateLimiter
from worker.retry_after import parse_retry_after
from worker.settings import Settings
from worker.storage import Storage, keys

_AUDIO = re.compile(r'jQ1olc","\[\\"(.*)\\"]')
RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}


class GttsFailure(RuntimeError):
    """gTTS could not produce a chunk after its retries (or the answer was unusable)."""

    def __init__(self, message: str, *, status: int | None = None, attempts: int = 0) -> None:
        super().__init__(message)
        self.status = status
        self.attempts = attempts


@dataclass(frozen=True)
class Spoken:
    """Raw speech per chunk, per paragraph, in order, and what it cost.

    gTTS chunks are complete MP3 files as Google sent them (and as the cache keeps them);
    offline engines give 16-bit mono PCM at `pcm_rate`. `worker.audio.master` makes either into
    the finished file.
    """

    engine: str
    voice: str
    paragraphs: list[list[bytes]]
    requests: int
    chunks: int
    cache_hits: int
    pcm_rate: int | None = None  # None: each chunk is an MP3 file


def chunk_key(text: str, lang: str, tld: str, slow: bool) -> str:
    digest = hashlib.sha256(
        json.dumps([text, lang, tld, slow], ensure_ascii=False).encode()
    ).hexdigest()
    return keys.tts_chunk(digest)


def extract_audio(body: str) -> bytes:
    """The MP3 bytes from a batchexecute answer, parsed the way gTTS.stream() does."""
    for line in body.splitlines():
        if "jQ1olc" in line:
            found = _AUDIO.search(line)
            if found:
                try:
                    return base64.b64decode(found.group(1).encode("ascii"), validate=True)
                except (binascii.Error, ValueError) as exc:
                    raise GttsFailure(f"undecodable audio in the answer: {exc}") from exc
            raise GttsFailure("answer without an audio stream (unsupported language?)")
    raise GttsFailure("answer without a jQ1olc line")


def tokenize_text(text: str, lang: str = "en") -> list[str]:
    """gTTS's own chunking (pre-processors, tokenizer, 100-character minimizer); no network."""
    return list(gTTS("-", lang=lang, lang_check=False)._tokenize(text))


_clients: dict[tuple[int, int, float], httpx.Client] = {}
_clients_lock = threading.Lock()


def shared_client(concurrency: int, timeout: float) -> httpx.Client:
    """One keep-alive pool per process (and configuration), shared by every article.

    httpx.Client is thread-safe, so the chunk threads share it; reusing it across articles
    saves a TLS handshake per connection per article. Keyed by pid: a forked Celery worker
    builds its own instead of inheriting its parent's sockets.
    """
    key = (os.getpid(), concurrency, timeout)
    with _clients_lock:
        client = _clients.get(key)
        if client is None or client.is_closed:
            client = httpx.Client(
                timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
                limits=httpx.Limits(
                    max_connections=concurrency, max_keepalive_connections=concurrency
                ),
                headers=gTTS.GOOGLE_TTS_HEADERS,
                trust_env=False,  # the endpoint setting is the whole truth; no proxy surprises
            )
            _clients[key] = client
        return client


@atexit.register
def close_clients() -> None:
    with _clients_lock:
        for client in _clients.values():
            client.close()
        _clients.clear()


class GttsEngine:
    name = "gtts"

    def __init__(
        self,
        settings: Settings,
        storage: Storage | None,
        *,
        limiter: RateLimiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.storage = storage
        self.endpoint = settings.gtts_endpoint
        self.tld = settings.gtts_tld
        self.slow = settings.gtts_slow
        self.limiter = limiter or limiter_for(
            settings.broker_url, settings.gtts_rate_per_second, settings.gtts_burst
        )
        self.sleep = sleep
        self.rng = rng or random.Random()
        self._lock = threading.Lock()
        self._abort = threading.Event()
        self.requests = 0
        self.retries = 0
        self.sleeps: list[float] = []  # the backoff waits, for ops logs and tests
        self.concurrency = max(1, settings.gtts_concurrency)
        self.client = shared_client(self.concurrency, settings.gtts_timeout_seconds)

    def close(self) -> None:
        """Nothing to release: the keep-alive pool outlives the engine (see shared_client)."""

    def __enter__(self) -> GttsEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ gTTS's own pieces
    def _gtts(self, lang: str) -> gTTS:
        return gTTS("-", lang=lang, tld=self.tld, slow=self.slow, lang_check=False)

    def tokenize(self, text: str, lang: str) -> list[str]:
        """gTTS's pre-processors, tokenizer and minimizer: the exact chunks gTTS would send."""
        return tokenize_text(text, lang)

    def voice(self, lang: str) -> str:
        return f"gtts:{lang}:{self.tld}{':slow' if self.slow else ''}"

    # ------------------------------------------------------------ transport
    def _backoff(self, attempt: int) -> float:
        cap = min(
            self.settings.gtts_backoff_max_seconds,
            self.settings.gtts_backoff_seconds * (2**attempt),
        )
        return self.rng.uniform(0, cap)

    def _wait(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
        if seconds <= 0:
            return
        if self.sleep is time.sleep:
            self._abort.wait(seconds)  # wakes early when a sibling chunk already failed
        else:
            self.sleep(seconds)

    def _fetch_for_article(self, text: str, lang: str, key: str) -> bytes:
        # a failure stops the article's other chunks too (they would be thrown away anyway)
        try:
            audio = self.fetch(text, lang)
        except GttsFailure:
            self._abort.set()
            raise
        if self.storage is not None:
            # cached from the worker thread: the (fsynced) write overlaps other requests
            self.storage.write_bytes(key, audio)
        return audio

    def fetch(self, text: str, lang: str) -> bytes:
        """One chunk's MP3, with retries; raises GttsFailure when it cannot be had."""
        body = self._gtts(lang)._package_rpc(text)
        attempts = self.settings.gtts_retries + 1
        last_status: int | None = None
        last_error = ""
        for attempt in range(attempts):
            if self._abort.is_set():
                raise GttsFailure("another chunk of this article failed", attempts=attempt)
            self.limiter.acquire()
            with self._lock:
                self.requests += 1
                if attempt:
                    self.retries += 1
            retry_after: float | None = None
            try:
                response = self.client.post(self.endpoint, content=body.encode("ascii"))
            except httpx.TransportError as exc:  # connect/read timeouts, drops, refusals
                last_status, last_error = None, f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code == 200:
                    audio = extract_audio(response.text)
                    if next(mp3.frames(audio), None) is None:
                        # never cache what is not audio: it would poison every later run
                        raise GttsFailure("the answer's audio is not MP3", status=200)
                    return audio
                last_status = response.status_code
                last_error = f"HTTP {response.status_code} from TTS endpoint"
                if response.status_code not in RETRY_STATUS:
                    raise GttsFailure(last_error, status=last_status, attempts=attempt + 1)
                retry_after = parse_retry_after(response.headers.get("retry-after"))
            if attempt + 1 >= attempts:
                break
            if retry_after is not None:
                if retry_after > self.settings.gtts_retry_after_max_seconds:
                    raise GttsFailure(
                        f"{last_error}; Retry-After {retry_after:.0f}s is too long to wait",
                        status=last_status,
                        attempts=attempt + 1,
                    )
                # everybody pauses, not only this thread: the bucket is shared
                self.limiter.block(retry_after)
                delay = retry_after + self.rng.uniform(0, self.settings.gtts_backoff_seconds)
            else:
                delay = self._backoff(attempt)
            self._wait(delay)
        raise GttsFailure(
            f"{last_error} after {attempts} attempts", status=last_status, attempts=attempts
        )

    # ------------------------------------------------------------ articles
    def speak(self, paragraphs: Sequence[str], lang: str) -> Spoken:
        """MP3 chunks per paragraph, chunked by gTTS's tokenizer."""
        return self.speak_chunks([self.tokenize(p, lang) for p in paragraphs], lang)

    def speak_chunks(self, plan: Sequence[Sequence[str]], lang: str) -> Spoken:
        """MP3 per chunk, per paragraph, in order; cached chunks are not requested again."""
        start_requests = self.requests
        keys = {
            text: chunk_key(text, lang, self.tld, self.slow) for chunks in plan for text in chunks
        }
        audio: dict[str, bytes] = {}
        missing: list[str] = []
        for text, key in keys.items():  # dict: each distinct chunk text once
            if self.storage is not None and self.storage.exists(key):
                audio[text] = self.storage.read_bytes(key)
            else:
                missing.append(text)
        hits = len(keys) - len(missing)
        if missing:
            self._abort.clear()
            with ThreadPoolExecutor(self.concurrency, thread_name_prefix="gtts") as pool:
                futures = {
                    text: pool.submit(self._fetch_for_article, text, lang, keys[text])
                    for text in missing
                }
                try:
                    for text, future in futures.items():
                        audio[text] = future.result()
                except BaseException:
                    # do not keep hammering a failing endpoint for an article that falls back
                    self._abort.set()
                    pool.shutdown(wait=True, cancel_futures=True)
                    raise
                finally:
                    pool.shutdown(wait=True)
                    self._abort.clear()
        return Spoken(
            engine=self.name,
            voice=self.voice(lang),
            paragraphs=[[audio[text] for text in chunks] for chunks in plan],
            requests=self.requests - start_requests,
            chunks=sum(len(c) for c in plan),
            cache_hits=hits,
        )


PROBE_TTL_SECONDS = 600.0  # a long-running worker asks again after this; a run asks once
_probe_cache: dict[str, tuple[bool, float]] = {}
_probe_lock = threading.Lock()


def endpoint_reachable(settings: Settings) -> bool:
    """Can the gTTS endpoint be reached at all? Asked once per process and endpoint (per run).

    Any HTTP answer counts as reachable (a 429 is handled per article by retries and fallback);
    a connection error or timeout within GTTS_PROBE_TIMEOUT_SECONDS means offline. Worker
    processes live for days, so the verdict expires after PROBE_TTL_SECONDS.
    """
    endpoint = settings.gtts_endpoint
    with _probe_lock:
        cached = _probe_cache.get(endpoint)
        if cached is not None and time.monotonic() - cached[1] < PROBE_TTL_SECONDS:
            return cached[0]
        verdict = _probe(endpoint, settings.gtts_tld, settings.gtts_probe_timeout_seconds)
        _probe_cache[endpoint] = (verdict, time.monotonic())
        return verdict


def _probe(endpoint: str, tld: str, timeout: float) -> bool:
    body = gTTS("-", lang="en", tld=tld, lang_check=False)._package_rpc("ok")
    answered = threading.Event()

    def ask() -> None:
        try:
            with httpx.Client(timeout=timeout, trust_env=False) as client:
                client.post(endpoint, content=body.encode(), headers=gTTS.GOOGLE_TTS_HEADERS)
            answered.set()
        except httpx.HTTPError:
            pass

    # in a thread: a hanging DNS lookup is not covered by httpx's timeout, the wait below is
    thread = threading.Thread(target=ask, name="gtts-probe", daemon=True)
    thread.start()
    thread.join(timeout + 0.5)
    return answered.is_set()


_cooldown_until: dict[str, float] = {}


def cool_down(settings: Settings) -> None:
    """gTTS just failed after its retries: `auto` skips it for GTTS_COOLDOWN_SECONDS.

    Without this, a run of 30 articles against a rate-limited Google would wait out every
    article's retries before each fallback; with it, the rest of the run goes straight to espeak
    (recorded as fallbacks, upgraded later by audio.upgrade_fallbacks).
    """
    with _probe_lock:
        _cooldown_until[settings.gtts_endpoint] = time.monotonic() + settings.gtts_cooldown_seconds


def cooling_down(settings: Settings) -> bool:
    with _probe_lock:
        return time.monotonic() < _cooldown_until.get(settings.gtts_endpoint, 0.0)


def reset_probe() -> None:
    """Forget probe verdicts and cool-downs (a new run, or tests)."""
    with _probe_lock:
        _probe_cache.clear()
        _cooldown_until.clear()
