"""The daily briefing: one MP3 per digest with an intro, the top stories and an outro.

Chapters (ID3 CHAP/CTOC) start at the story boundaries, measured from the real chunk frames.
One engine speaks the whole briefing (gTTS and espeak produce different sample rates, and a
voice change mid-programme sounds broken), so a gTTS failure re-speaks it all with espeak.
Rebuilding is skipped when the spoken text is unchanged and the file exists.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.audio import mp3
from worker.audio.captions import plain_text, webvtt
from worker.audio.cover import cover_png
from worker.audio.gtts_engine import (
    GttsEngine,
    GttsFailure,
    Spoken,
    cool_down,
    cooling_down,
    endpoint_reachable,
    tokenize_text,
)
from worker.audio.normalize import spoken_date
from worker.audio.service import chunk_plan, speak_espeak, timeline
from worker.audio.text import Piece, SpeechText, lexicon_at, prepare, text_hash
from worker.models import Article, Digest
from worker.settings import Settings
from worker.storage import Storage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Segment:
    title: str  # the chapter title
    speech: SpeechText
    url: str | None = None

    def plan(self) -> list[list[Piece]]:
        return self.speech.plan(lambda text: tokenize_text(text, self.speech.language))


def plan(settings: Settings, day: date, articles: list[Article]) -> list[Segment]:
    """Intro, one segment per top story (headline + first paragraphs), outro (pure)."""
    name = settings.newsletter_name
    lexicon = lexicon_at(settings.tts_lexicon)
    when = f"{day:%A}, {spoken_date(day, 'en')}"
    count = len(articles)
    intro = (
        f"Good morning. This is {name}, your briefing for {when}. "
        f"{'One top story' if count == 1 else f'{count} top stories'} today."
    )
    segments = [Segment("Intro", prepare(intro, "", "en", lexicon=lexicon))]
    for article in articles:
        speech = prepare(
            article.title,
            article.body_html or f"<p>{article.summary}</p>",
            article.language,
            lexicon=lexicon,
            max_paragraphs=settings.briefing_paragraphs,
        )
        if speech.paragraphs:
            segments.append(Segment(article.title, speech, article.url))
    outro = (
        f"That was {name} for {spoken_date(day, 'en')}. The full stories, and audio of every "
        "article, are in today's email. Thank you for listening."
    )
    segments.append(Segment("Outro", prepare(outro, "", "en", lexicon=lexicon)))
    return segments


def _speak_all(
    settings: Settings, storage: Storage, segments: list[Segment], plans: list[list[list[Piece]]]
) -> Spoken:
    """All segments with one engine; a Spoken whose paragraphs are every segment's paragraphs."""
    use_gtts = settings.tts_engine == "gtts" or (
        settings.tts_engine == "auto"
        and endpoint_reachable(settings)
        and not cooling_down(settings)
    )
    chunked = [chunk_plan(p) for p in plans]
    parts: list[Spoken] = []
    if use_gtts:
        try:
            with GttsEngine(settings, storage) as engine:
                parts = [
                    engine.speak_chunks(c, s.speech.language)
                    for s, c in zip(segments, chunked, strict=True)
                ]
        except GttsFailure as exc:
            if settings.tts_engine == "gtts":
                raise
            cool_down(settings)
            log.warning("briefing: gTTS failed, speaking it with espeak: %s", exc)
            parts = []
    if not parts:
        parts = [
            speak_espeak(settings, c, s.speech.language)
            for s, c in zip(segments, chunked, strict=True)
        ]
    return Spoken(
        engine=parts[0].engine,
        voice=parts[0].voice,
        paragraphs=[chunks for part in parts for chunks in part.paragraphs],
        requests=sum(p.requests for p in parts),
        chunks=sum(p.chunks for p in parts),
        cache_hits=sum(p.cache_hits for p in parts),
    )


def build_briefing(
    session: Session, settings: Settings, storage: Storage, digest_id: int
) -> dict[str, Any] | None:
    """Write digests/D/briefing.mp3 (+ .json, .vtt, .txt); None when there is nothing to speak.

    Returns {"duration_seconds", "bytes", "key", "chapters", "engine", "status"}.
    """
    digest = session.get(Digest, digest_id)
    if digest is None:
        return None
    articles = list(
        session.scalars(
            select(Article)
            .where(Article.digest_id == digest_id)
            .order_by(Article.editors_pick, Article.published_at.desc(), Article.id)
        )
    )
    top = [a for a in articles if not a.editors_pick][: settings.briefing_stories]
    if not top:
        return None
    segments = plan(settings, digest.date, top)
    folder = f"digests/{digest.date.isoformat()}"
    key = f"{folder}/briefing.mp3"
    digest_hash = text_hash(
        [p for s in segments for p in s.speech.paragraphs], "briefing", engine=settings.tts_engine
    )
    if storage.exists(key) and storage.exists(f"{folder}/briefing.json"):
        old = json.loads(storage.read_bytes(f"{folder}/briefing.json"))
        if old.get("text_hash") == digest_hash:
            return {**_public(old), "status": "unchanged"}
    plans = [segment.plan() for segment in segments]
    spoken = _speak_all(settings, storage, segments, plans)
    line = timeline(spoken, [paragraph for p in plans for paragraph in p])
    chapters: list[mp3.Chapter] = []
    index = 0
    for segment in segments:
        spans = line.paragraphs[index : index + len(segment.speech.paragraphs)]
        chapters.append(mp3.Chapter(segment.title, spans[0][0], spans[-1][1], segment.url))
        index += len(segment.speech.paragraphs)
    data = mp3.tag(
        line.joined.data,
        mp3.Tags(
            title=f"{settings.newsletter_name}, {spoken_date(digest.date, 'en')}",
            artist=settings.newsletter_name,
            album=f"{settings.newsletter_name} briefing",
            language="en",
            url=f"{settings.public_base_url.rstrip('/')}/briefing/{digest.date.isoformat()}",
            cover_png=cover_png(),
            chapters=chapters,
        ),
    )
    probe = mp3.probe(data)
    meta: dict[str, Any] = {
        "key": key,
        "date": digest.date.isoformat(),
        "engine": spoken.engine,
        "voice": spoken.voice,
        "text_hash": digest_hash,
        "duration_seconds": round(probe.duration, 3),
        "bytes": probe.bytes,
        "requests": spoken.requests,
        "stories": len(segments) - 2,
        "chapters": [
            {"title": c.title, "start": round(c.start, 3), "end": round(c.end, 3), "url": c.url}
            for c in chapters
        ],
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    storage.write_bytes(key, data)
    storage.write_bytes(f"{folder}/briefing.vtt", webvtt(line.cues).encode())
    transcript = [t for s in segments for t in s.speech.display]
    storage.write_bytes(f"{folder}/briefing.txt", plain_text(transcript).encode())
    storage.write_bytes(
        f"{folder}/briefing.json", json.dumps(meta, ensure_ascii=False, indent=2).encode()
    )
    # the briefing feed lists the new episode at once, whatever order the pipeline runs in
    from worker.audio.podcast import publish_briefing_feed

    publish_briefing_feed(session, settings, storage)
    return {**_public(meta), "status": "synthesized"}


def _public(meta: dict[str, Any]) -> dict[str, Any]:
    return {
        "duration_seconds": meta["duration_seconds"],
        "bytes": meta["bytes"],
        "key": meta["key"],
        "engine": meta.get("engine"),
        "chapters": meta.get("chapters", []),
    }
