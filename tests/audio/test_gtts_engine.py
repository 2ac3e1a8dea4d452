"""The gTTS engine against the local batchexecute emulator: order, concurrency, retries, cache."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from gtts import gTTS

from tests.audio.conftest import gtts_settings
from tests.audio.gtts_emulator import Emulator, parse_request
from worker.audio import mp3
from worker.audio.gtts_engine import (
    GttsEngine,
    GttsFailure,
    chunk_key,
    endpoint_reachable,
    extract_audio,
)
from worker.ratelimit import LocalTokenBucket
from worker.retry_after import parse_retry_after
from worker.settings import Settings
from worker.storage import LocalStorage

PARAGRAPHS = [
    "Kyiv's power grid held overnight, engineers said on Thursday, after a wave of drone and "
    "missile strikes targeted substations across the country.",
    "Repairs began at dawn. Crews restored electricity to most districts by noon, while "
    "hospitals ran on generators; schools moved lessons online for the day.",
    "Officials asked residents to limit consumption in the evening peak hours.",
]


class Recorder:
    def __init__(self) -> None:
        self.sleeps: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.sleeps.append(seconds)


class FakeTime:
    """A clock that only moves when something sleeps on it (the limiter's blocks cost nothing)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slept += seconds


def _engine(
    settings: Settings, url: str, storage: LocalStorage | None = None, **extra: object
) -> tuple[GttsEngine, Recorder]:
    recorder = Recorder()
    s = gtts_settings(settings, url, **extra)
    fake = FakeTime()
    limiter = LocalTokenBucket(1000, 1000, clock=fake.clock, sleep=fake.sleep)
    return GttsEngine(s, storage, limiter=limiter, sleep=recorder), recorder


def test_uses_gtts_tokenizer_and_request_format(settings: Settings, emulator: Emulator) -> None:
    engine, _ = _engine(settings, emulator.url)
    text = " ".join(PARAGRAPHS)
    stock = gTTS(text, lang="en", lang_check=False)
    assert engine.tokenize(text, "en") == stock._tokenize(text)
    body = engine._gtts("en")._package_rpc("Hello there.")
    assert body == stock._package_rpc("Hello there.")
    assert parse_request(body.encode()) == ("Hello there.", "en", None)


def test_chunks_come_back_in_order_and_requests_run_concurrently(
    settings: Settings, emulator: Emulator
) -> None:
    emulator.latency = 0.05  # overlapping requests are then certain to be in flight together
    engine, _ = _engine(settings, emulator.url, gtts_concurrency=4)
    with engine:
        spoken = engine.speak(PARAGRAPHS, "en")
    plan = [engine.tokenize(p, "en") for p in PARAGRAPHS]
    assert spoken.chunks == sum(len(c) for c in plan) > 4
    for chunks, texts in zip(spoken.paragraphs, plan, strict=True):
        assert chunks == [emulator.audio_for(t) for t in texts]  # each chunk in its place
    assert spoken.requests == emulator.requests == spoken.chunks
    assert 2 <= emulator.peak_in_flight <= 4  # concurrent, and bounded by GTTS_CONCURRENCY
    assert emulator.connections <= 4  # keep-alive: one pooled connection per worker at most
    joined = mp3.join([c for chunks in spoken.paragraphs for c in chunks])
    assert joined.duration == pytest.approx(
        sum(mp3.duration_of(emulator.audio_for(t)) for texts in plan for t in texts)
    )


def test_429_with_retry_after_is_honoured(settings: Settings, emulator: Emulator) -> None:
    engine, recorder = _engine(settings, emulator.url, gtts_concurrency=1)
    emulator.fail("429:3", "429:2")
    with engine:
        audio = engine.fetch("Hello.", "en")
    assert audio == emulator.audio_for("Hello.")
    assert emulator.requests == 3 and engine.retries == 2
    assert len(recorder.sleeps) == 2
    assert 3 <= recorder.sleeps[0] < 3.01 and 2 <= recorder.sleeps[1] < 2.01


def test_429_with_an_http_date_retry_after(settings: Settings) -> None:
    now = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)
    date = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(date, now.timestamp()) == 30


def test_429_without_retry_after_backs_off_exponentially(
    settings: Settings, emulator: Emulator
) -> None:
    engine, recorder = _engine(
        settings, emulator.url, gtts_backoff_seconds=1.0, gtts_backoff_max_seconds=100.0
    )
    emulator.fail("429", "429", "429")
    with engine:
        engine.fetch("Hello.", "en")
    assert emulator.requests == 4
    caps = [1.0, 2.0, 4.0]  # full jitter: uniform(0, base * 2**attempt)
    assert len(recorder.sleeps) == 3
    assert all(0 <= s <= cap for s, cap in zip(recorder.sleeps, caps, strict=True))


def test_too_long_retry_after_gives_up_at_once(settings: Settings, emulator: Emulator) -> None:
    engine, recorder = _engine(settings, emulator.url, gtts_retry_after_max_seconds=60)
    emulator.fail("429:3600")
    with engine, pytest.raises(GttsFailure, match="too long") as info:
        engine.fetch("Hello.", "en")
    assert info.value.status == 429 and emulator.requests == 1 and recorder.sleeps == []


def test_500_is_retried_then_gives_up(settings: Settings, emulator: Emulator) -> None:
    engine, recorder = _engine(settings, emulator.url, gtts_retries=2)
    emulator.fail("500", "503", "500", "500")
    with engine, pytest.raises(GttsFailure) as info:
        engine.fetch("Hello.", "en")
    assert info.value.status == 500 and info.value.attempts == 3
    assert emulator.requests == 3 and len(recorder.sleeps) == 2


def test_4xx_other_than_429_and_answers_without_audio_are_not_retried(
    settings: Settings, emulator: Emulator
) -> None:
    engine, recorder = _engine(settings, emulator.url)
    with engine:
        emulator.fail("403")
        with pytest.raises(GttsFailure) as info:
            engine.fetch("Hello.", "en")
        assert info.value.status == 403
        emulator.fail("noaudio")
        with pytest.raises(GttsFailure, match="audio"):
            engine.fetch("Hello.", "en")
        bad = engine.client.post(emulator.url, content=b"f.req=not-json")
        assert bad.status_code == 400
    assert emulator.requests == 3 and recorder.sleeps == []


def test_slow_answer_times_out_and_is_retried(settings: Settings, emulator: Emulator) -> None:
    engine, _ = _engine(settings, emulator.url, gtts_timeout_seconds=0.3)
    emulator.fail("slow:1.0")
    with engine:
        assert engine.fetch("Hello.", "en") == emulator.audio_for("Hello.")
    assert emulator.requests == 2 and engine.retries == 1


def test_dropped_connection_is_retried(settings: Settings, emulator: Emulator) -> None:
    engine, _ = _engine(settings, emulator.url)
    emulator.fail("drop", "drop")
    with engine:
        assert engine.fetch("Hello.", "en") == emulator.audio_for("Hello.")
    assert emulator.requests == 3 and engine.retries == 2


def test_unreachable_endpoint_raises_after_retries(
    settings: Settings, closed_port_url: str
) -> None:
    engine, _ = _engine(settings, closed_port_url, gtts_retries=1)
    with engine, pytest.raises(GttsFailure, match="ConnectError"):
        engine.fetch("Hello.", "en")
    assert engine.requests == 2


def test_cache_makes_a_rerun_free_and_an_edit_cheap(
    settings: Settings, emulator: Emulator, storage: LocalStorage
) -> None:
    engine, _ = _engine(settings, emulator.url, storage)
    with engine:
        first = engine.speak(PARAGRAPHS, "en")
    assert first.requests == first.chunks and first.cache_hits == 0
    key = chunk_key(engine.tokenize(PARAGRAPHS[0], "en")[0], "en", "com", False)
    assert key.startswith(f"cache/tts/{key.split('/')[-1][:2]}/") and storage.exists(key)

    emulator.reset_counts()
    engine, _ = _engine(settings, emulator.url, storage)
    with engine:
        again = engine.speak(PARAGRAPHS, "en")
    assert again.requests == 0 and emulator.requests == 0
    assert again.paragraphs == first.paragraphs

    edited = [*PARAGRAPHS[:2], "Officials asked residents to save power tonight."]
    new_chunks = engine.tokenize(edited[2], "en")
    engine, _ = _engine(settings, emulator.url, storage)
    with engine:
        third = engine.speak(edited, "en")
    assert emulator.received == new_chunks  # only the edited paragraph's chunks
    assert third.requests == len(new_chunks) and third.paragraphs[:2] == first.paragraphs[:2]

    # accent and speed are part of the key: another tld is a different chunk
    assert chunk_key("Hi.", "en", "co.uk", False) != chunk_key("Hi.", "en", "com", False)
    assert chunk_key("Hi.", "en", "com", True) != chunk_key("Hi.", "en", "com", False)


def test_a_failing_chunk_fails_the_article(settings: Settings, emulator: Emulator) -> None:
    engine, _ = _engine(settings, emulator.url, gtts_retries=0, gtts_concurrency=1)
    emulator.fail("ok", "500")
    with engine, pytest.raises(GttsFailure):
        engine.speak(PARAGRAPHS, "en")
    assert emulator.requests == 2  # the rest of the article was not requested


def test_probe_is_asked_once_and_cached(
    settings: Settings, emulator: Emulator, closed_port_url: str
) -> None:
    online = gtts_settings(settings, emulator.url)
    assert endpoint_reachable(online) and endpoint_reachable(online)
    assert emulator.requests == 1
    assert not endpoint_reachable(gtts_settings(settings, closed_port_url))


def test_a_hanging_endpoint_counts_as_unreachable(settings: Settings) -> None:
    silent = Emulator(latency=2.0).start()  # answers far later than the probe waits
    try:
        assert not endpoint_reachable(
            gtts_settings(settings, silent.url, gtts_probe_timeout_seconds=0.2)
        )
    finally:
        silent.stop()


def test_extract_audio_reads_googles_answer_format() -> None:
    from tests.audio.gtts_emulator import google_answer

    assert extract_audio(google_answer(b"\xff\xf3abc").decode()) == b"\xff\xf3abc"
    with pytest.raises(GttsFailure):
        extract_audio(")]}'\n\n[]\n")
    with pytest.raises(GttsFailure, match="undecodable"):
        extract_audio('[["wrb.fr","jQ1olc","[\\"not base64!\\"]"]]')


def test_with_a_redis_broker_the_engine_takes_tokens_from_the_shared_bucket(
    settings: Settings, emulator: Emulator, redis_url: str
) -> None:
    import redis

    from worker.ratelimit import RedisTokenBucket

    s = gtts_settings(
        settings, emulator.url, broker_url=redis_url, gtts_rate_per_second=0.1, gtts_burst=100
    )
    with GttsEngine(s, None) as engine:
        assert isinstance(engine.limiter, RedisTokenBucket)
        spoken = engine.speak(PARAGRAPHS[:1], "en")
    assert spoken.requests == emulator.requests > 0
    client = redis.Redis.from_url(redis_url)
    tokens = float(client.hget("digestcast:gtts:bucket", "tokens") or 0)
    assert tokens <= s.gtts_burst - spoken.requests + 1  # the requests were counted there
    client.close()
