"""Speak an article: choose the engine, synthesize, join, tag, store, record.

Files next to `article.json` (each written atomically by Storage.write_bytes; `audio.json` is
written last, so a reader that sees it also sees the matching MP3 and captions):
`audio.mp3`, `audio.vtt` (cues at the real paragraph boundaries), `audio.txt`, `audio.json`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from worker.audio import engines, master, mp3
from worker.audio.captions import Cue, merge, plain_text, webvtt
from worker.audio.cover import cover_png
from worker.audio.engines import SpeakResult, speak, speak_offline
from worker.audio.gtts_engine import GttsFailure, Spoken, endpoint_reachable, tokenize_text
from worker.audio.master import Mastering
from worker.audio.text import Piece, SpeechText, lexicon_at, prepare
from worker.models import Article, Audio, AudioState
from worker.settings import Settings
from worker.storage import Storage, keys

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- rendering
@dataclass(frozen=True)
class Rendered:
    """The finished (untagged) MP3, each paragraph's span and a caption cue per piece, in
    seconds of the file, measured from the real sample counts of the chunks."""

    encoded: master.Encoded
    paragraphs: list[tuple[float, float]]
    cues: list[Cue]
    source_lufs: float | None = None


def layout(
    spans: Sequence[tuple[float, float]],
    plan: Sequence[Sequence[Piece]],
    at: Callable[[float], float],
) -> tuple[list[tuple[float, float]], list[Cue]]:
    """Paragraph spans and cues from every chunk's (start, end); `at` maps track to file time."""
    paragraphs: list[tuple[float, float]] = []
    cues: list[Cue] = []
    index = 0
    for pieces in plan:
        first = index
        within: list[Cue] = []
        for piece in pieces:
            count = len(piece.chunks)
            start, end = at(spans[index][0]), at(spans[index + count - 1][1])
            within.append(Cue(start, end, piece.caption))
            index += count
        cues += merge(within)  # never across paragraphs
        edge = at(spans[index - 1][1]) if index else 0.0
        paragraphs.append((at(spans[first][0]), edge) if index > first else (edge, edge))
    return paragraphs, cues


def render(spoken: Spoken, plan: Sequence[Sequence[Piece]], mastering: Mastering) -> Rendered:
    track = master.master(spoken, mastering)
    encoded = master.encode(track, mastering)
    paragraphs, cues = layout(track.spans, plan, encoded.at)
    return Rendered(encoded, paragraphs, cues, track.source_lufs)


# ---------------------------------------------------------------- articles
def article_speech(article: Article, settings: Settings | None = None) -> SpeechText:
    language = article.language or (article.source.language if article.source else "en")
    return prepare(
        article.title,
        article.body_html or f"<p>{article.summary}</p>",
        language,
        author=article.author,
        published=article.published_at.astimezone(UTC) if article.published_at else None,
        lexicon=lexicon_at(settings.tts_lexicon if settings else None),
    )


def _audio_row(session: Session, article: Article) -> Audio:
    row = session.scalar(select(Audio).where(Audio.article_id == article.id))
    if row is None:
        row = Audio(article_id=article.id, state=AudioState.pending, requests=0)
        session.add(row)
    return row


def synthesize_article(
    session: Session,
    settings: Settings,
    storage: Storage,
    article_id: int,
    *,
    engine: str | None = None,
    force: bool = False,
    reason: str | None = None,
) -> dict[str, Any]:
    """Speak one article unless its spoken text is unchanged and its MP3 exists.

    `reason`: why an explicitly chosen offline `engine` is still a fallback (an upgrade from
    espeak to the neural voice while Google is unreachable stays a fallback, for gTTS later).

    Returns {"article_id", "status": synthesized|unchanged|failed, "engine", "requests", "error",
    "duration_seconds", "bytes", "fallback"}. Never raises for a bad article: it records the error.
    """
    article = session.get(Article, article_id)
    result: dict[str, Any] = {
        "article_id": article_id,
        "status": "failed",
        "engine": None,
        "requests": 0,
        "error": None,
        "duration_seconds": None,
        "bytes": None,
        "fallback": False,
    }
    if article is None:
        result["error"] = "no such article"
        return result
    row = _audio_row(session, article)
    prefix = article.storage_prefix
    try:
        speech = article_speech(article, settings)
    except Exception as exc:  # a malformed body must not stop the other articles
        return _failed(session, row, result, f"text preparation failed: {exc}")
    if (
        not force
        and row.text_hash == speech.text_hash
        and row.state in (AudioState.done, AudioState.fallback)
        and storage.exists(keys.article(prefix).audio.mp3)
        and storage.exists(keys.article(prefix).audio.meta)  # written last: the set is complete
    ):
        result.update(
            status="unchanged",
            engine=row.engine,
            duration_seconds=row.duration_seconds,
            bytes=row.bytes,
            fallback=row.state == AudioState.fallback,
        )
        return result
    if not speech.paragraphs:
        return _failed(session, row, result, "nothing to speak")
    try:
        plan = speech.plan(lambda text: tokenize_text(text, speech.language))
        outcome = speak(settings, storage, plan, speech.language, engine=engine)
        mastering = Mastering.from_settings(settings)
        try:
            rendered = render(outcome.spoken, plan, mastering)
        except mp3.MP3Error as exc:
            if outcome.spoken.engine != "gtts" or (engine or settings.tts_engine) != "auto":
                raise
            # the endpoint answered with something that is not MP3 audio: speak it offline
            offline = speak_offline(settings, plan, speech.language)
            outcome = SpeakResult(offline, f"gTTS audio unusable: {exc}")
            rendered = render(outcome.spoken, plan, mastering)
        data = mp3.tag(rendered.encoded.data, _article_tags(settings, article))
        spoken = outcome.spoken
        if reason and not outcome.fallback_reason:
            outcome = SpeakResult(spoken, reason)
        meta = _write_files(
            storage, prefix, speech, spoken, data, rendered, mastering, outcome.fallback_reason
        )
    except Exception as exc:  # one bad article never stops the rest: record it
        log.exception("audio for article %s failed", article_id)
        return _failed(session, row, result, f"{type(exc).__name__}: {exc}")
    row.state = AudioState.fallback if outcome.fallback_reason else AudioState.done
    row.engine = spoken.engine
    row.language = speech.language
    row.text_hash = speech.text_hash
    row.duration_seconds = meta["duration_seconds"]
    row.bytes = meta["bytes"]
    row.requests = spoken.requests
    row.error = outcome.fallback_reason
    session.commit()
    result.update(
        status="synthesized",
        engine=spoken.engine,
        requests=spoken.requests,
        error=outcome.fallback_reason,
        duration_seconds=meta["duration_seconds"],
        bytes=meta["bytes"],
        fallback=outcome.fallback_reason is not None,
    )
    return result


def _failed(session: Session, row: Audio, result: dict[str, Any], error: str) -> dict[str, Any]:
    row.state = AudioState.failed
    row.error = error[:2000]
    session.commit()
    result["error"] = row.error
    return result


def _article_tags(settings: Settings, article: Article) -> mp3.Tags:
    return mp3.Tags(
        title=article.title,
        artist=settings.newsletter_name,
        album=f"{settings.newsletter_name} {article.published_day.isoformat()}",
        language=article.language,
        url=article.url,
        cover_png=cover_png(),
    )


def _write_files(
    storage: Storage,
    prefix: str,
    speech: SpeechText,
    spoken: Spoken,
    data: bytes,
    rendered: Rendered,
    mastering: Mastering,
    fallback_reason: str | None,
) -> dict[str, Any]:
    files = keys.article(prefix).audio
    probe = mp3.probe(data)
    meta: dict[str, Any] = {
        "engine": spoken.engine,
        "voice": spoken.voice,
        "language": speech.language,
        "text_hash": speech.text_hash,
        "duration_seconds": round(probe.duration, 3),
        "bytes": probe.bytes,
        "sample_rate": probe.sample_rate,
        "bitrate_kbps": probe.bitrate // 1000,
        "loudness": rendered.encoded.record(mastering, rendered.source_lufs),
        "chunks": spoken.chunks,
        "cache_hits": spoken.cache_hits,
        "requests": spoken.requests,
        "paragraphs": len(speech.paragraphs),
        "characters": speech.characters,
        "fallback_reason": fallback_reason,
        "captions": files.captions,
        "transcript": files.transcript,
        "paragraph_times": [[round(a, 3), round(b, 3)] for a, b in rendered.paragraphs],
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    # each write is atomic (temporary name + rename); audio.json last marks the set complete
    storage.write_bytes(files.mp3, data)
    storage.write_bytes(files.captions, webvtt(rendered.cues).encode())
    storage.write_bytes(files.transcript, plain_text(speech.display).encode())
    write_meta(storage, files.meta, meta)
    return meta


def write_meta(storage: Storage, key: str, meta: dict[str, Any]) -> None:
    storage.write_bytes(key, json.dumps(meta, ensure_ascii=False, indent=2).encode())


def read_audio_meta(storage: Storage, article: Article) -> dict[str, Any] | None:
    key = keys.article(article.storage_prefix).audio.meta
    if not storage.exists(key):
        return None
    meta: dict[str, Any] = json.loads(storage.read_bytes(key))
    return meta


# ---------------------------------------------------------------- upgrade and status
def upgrade_fallbacks(session: Session, settings: Settings, storage: Storage) -> dict[str, Any]:
    """Re-speak offline fallbacks with a better voice; files replaced atomically.

    With Google reachable every fallback goes to gTTS; without it, espeak files in English go
    to the neural voice when the extra is installed (and stay fallbacks, for gTTS later).
    """
    rows = list(
        session.execute(
            select(Audio.article_id, Audio.engine, Audio.language)
            .where(Audio.state == AudioState.fallback)
            .order_by(Audio.id)
        )
    )
    summary: dict[str, Any] = {
        "candidates": len(rows),
        "upgraded": 0,
        "neural": 0,
        "failed": 0,
        "requests": 0,
    }
    if not rows:
        return summary
    if not endpoint_reachable(settings):
        summary["skipped"] = "gTTS endpoint unreachable"
        reason = f"gTTS endpoint unreachable ({settings.gtts_endpoint})"
        for article_id, engine, language in rows:
            better = engines.offline_engine(language or "en")
            if engines.RANK[better] <= engines.RANK.get(engine or "espeak", 0):
                continue
            result = synthesize_article(
                session, settings, storage, article_id, engine=better, force=True, reason=reason
            )
            if result["status"] == "synthesized":
                summary["neural"] += 1
            else:
                _keep_fallback(session, article_id)
                summary["failed"] += 1
        return summary
    for article_id, _engine, _language in rows:
        try:
            result = synthesize_article(
                session, settings, storage, article_id, engine="gtts", force=True
            )
        except GttsFailure:
            result = {"status": "failed", "requests": 0}
        summary["requests"] += result.get("requests") or 0
        if result["status"] == "synthesized":
            summary["upgraded"] += 1
        else:
            _keep_fallback(session, article_id)
            summary["failed"] += 1
            break  # gTTS is failing: leave the rest for the next upgrade run
    return summary


def _keep_fallback(session: Session, article_id: int) -> None:
    """The offline file stays in place; the row stays a fallback to try again later."""
    row = session.scalar(select(Audio).where(Audio.article_id == article_id))
    if row is not None and row.state == AudioState.failed:
        row.state = AudioState.fallback
        session.commit()


def audio_status(session: Session) -> dict[str, int]:
    """Counts for `digestcast status`: pending (articles without finished audio), done, ..."""
    counts = {state.value: 0 for state in AudioState}
    for state, count in session.execute(select(Audio.state, func.count()).group_by(Audio.state)):
        counts[AudioState(state).value] = int(count)
    without_row = session.scalar(
        select(func.count()).select_from(Article).where(~Article.audio.has())
    )
    counts["pending"] += int(without_row or 0)
    return counts
