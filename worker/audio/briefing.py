"""The daily briefing: one MP3 per digest with an intro, the top stories and an outro.

Chapters start at the story boundaries, measured from the real sample counts, and are written
three ways: ID3 CHAP frames in time order under an ordered top-level CTOC (what ffmpeg and
podcast apps read from the file), `briefing.chapters.json` (Podcasting 2.0 JSON chapters,
linked from briefing.xml) and `briefing.json`. Each story is brought to the loudness target on
its own before the programme is joined, so a louder Ukrainian voice does not jump out.

Online, gTTS speaks the whole briefing or none of it (a gTTS failure re-speaks it all offline:
one voice for the programme). Offline, English is read by the neural voice when installed and
Ukrainian by espeak-ng. Rebuilding is skipped when the spoken text is unchanged and the file
exists.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from babel.dates import format_date
from sqlalchemy import select
from sqlalchemy.orm import Session

from worker import i18n, newsletters
from worker.audio import master, mp3
from worker.audio.captions import Cue, plain_text, webvtt
from worker.audio.cover import cover_png
from worker.audio.engines import chunk_plan, gtts_usable, speak_espeak, speak_offline
from worker.audio.gtts_engine import GttsEngine, GttsFailure, Spoken, cool_down, tokenize_text
from worker.audio.master import Encoded, Mastering
from worker.audio.normalize import spoken_date
from worker.audio.synthesis import layout, write_meta
from worker.audio.text import Piece, SpeechText, lexicon_at, prepare, text_hash
from worker.models import Article, Digest
from worker.settings import Settings
from worker.storage import Storage, keys

log = logging.getLogger(__name__)
JSON_CHAPTERS_VERSION = "1.2.0"


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
    # the intro and outro speak the edition's language (its catalogue); stories their own
    lang = settings.digest_language if settings.digest_language in ("en", "uk") else "en"
    t = i18n.gettext_for(lang)
    when = f"{format_date(day, 'EEEE', locale=lang)}, {spoken_date(day, lang)}"
    count = len(articles)
    intro = t.gettext("Good morning. This is %(name)s, your briefing for %(when)s.") % {
        "name": name,
        "when": when,
    }
    intro += " " + t.ngettext("One top story today.", "%(num)s top stories today.", count) % {
        "num": count
    }
    segments = [Segment("Intro", prepare(intro, "", lang, lexicon=lexicon))]
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
    outro = t.gettext(
        "That was %(name)s for %(when)s. The full stories, and audio of every article, "
        "are in today's email. Thank you for listening."
    ) % {"name": name, "when": spoken_date(day, lang)}
    segments.append(Segment("Outro", prepare(outro, "", lang, lexicon=lexicon)))
    return segments


def _speak_all(
    settings: Settings, storage: Storage, segments: list[Segment], plans: list[list[list[Piece]]]
) -> list[Spoken]:
    """Every segment's speech: all by gTTS, or all offline (per language)."""
    use_gtts = settings.tts_engine == "gtts" or (
        settings.tts_engine == "auto" and gtts_usable(settings)
    )
    pairs = list(zip(segments, plans, strict=True))
    spent = 0  # requests of a failed gTTS attempt still count
    if use_gtts:
        engine = GttsEngine(settings, storage)
        try:
            return [engine.speak_chunks(chunk_plan(p), s.speech.language) for s, p in pairs]
        except GttsFailure as exc:
            if settings.tts_engine == "gtts":
                raise
            cool_down(settings)
            spent = engine.requests
            log.warning("briefing: gTTS failed, speaking it offline: %s", exc)
    if settings.tts_engine == "espeak":
        parts = [speak_espeak(settings, p, s.speech.language) for s, p in pairs]
    else:
        parts = [speak_offline(settings, p, s.speech.language) for s, p in pairs]
    parts[0] = dataclasses.replace(parts[0], requests=spent)
    return parts


def build_briefing(
    session: Session, settings: Settings, storage: Storage, digest_id: int
) -> dict[str, Any] | None:
    """Write digests/D/briefing.mp3 (+ .json, .chapters.json, .vtt, .txt); None when there is
    nothing to speak.

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
    files = keys.edition(digest.newsletter, digest.date).briefing
    key = files.mp3
    digest_hash = text_hash(
        [p for s in segments for p in s.speech.paragraphs], "briefing", engine=settings.tts_engine
    )
    if storage.exists(key) and storage.exists(files.meta):
        old = json.loads(storage.read_bytes(files.meta))
        if old.get("text_hash") == digest_hash:
            return {**_public(old), "status": "unchanged"}
    plans = [segment.plan() for segment in segments]
    spoken = _speak_all(settings, storage, segments, plans)
    mastering = Mastering.from_settings(settings)
    tracks = [master.master(part, mastering) for part in spoken]  # each story on its own
    whole, starts = master.concat(tracks)
    encoded = master.encode(whole, mastering)
    _, cues = layout(whole.spans, [paragraph for p in plans for paragraph in p], encoded.at)
    chapters = chapter_marks(
        [(s.title, s.url) for s in segments], [encoded.at(t) for t in starts], encoded.duration
    )
    meta: dict[str, Any] = {
        "key": key,
        "date": digest.date.isoformat(),
        "engine": spoken[0].engine,
        "engines": sorted({part.engine for part in spoken}),
        "voice": spoken[0].voice,
        "text_hash": digest_hash,
        "requests": sum(part.requests for part in spoken),
        "stories": len(segments) - 2,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    transcript = [t for s in segments for t in s.speech.display]
    meta = write_briefing(
        session,
        settings,
        storage,
        digest.date,
        encoded,
        chapters,
        cues,
        meta,
        transcript=transcript,
        levels=[
            {"engine": part.engine, "source_lufs": master.rounded(track.source_lufs)}
            if track.source_lufs is not None
            else {"engine": part.engine}
            for part, track in zip(spoken, tracks, strict=True)
        ],
    )
    return {**_public(meta), "status": "synthesized"}


def chapter_marks(
    titles: Sequence[tuple[str, str | None]], starts: Sequence[float], duration: float
) -> list[mp3.Chapter]:
    """Contiguous chapters from their start times: the first from 0, the last to the end."""
    edges = [0.0, *starts[1:], duration]
    return [
        mp3.Chapter(title, edges[i], edges[i + 1], url) for i, (title, url) in enumerate(titles)
    ]


def json_chapters(title: str, chapters: Sequence[mp3.Chapter]) -> dict[str, Any]:
    """Podcasting 2.0 JSON chapters (podcast-namespace chapters/jsonChapters.md)."""
    out: list[dict[str, Any]] = []
    for chapter in chapters:
        item: dict[str, Any] = {
            "startTime": round(chapter.start, 3),
            "endTime": round(chapter.end, 3),
            "title": chapter.title,
        }
        if chapter.url:
            item["url"] = chapter.url
        out.append(item)
    return {"version": JSON_CHAPTERS_VERSION, "title": title, "chapters": out}


def write_briefing(
    session: Session,
    settings: Settings,
    storage: Storage,
    day: date,
    encoded: Encoded,
    chapters: Sequence[mp3.Chapter],
    cues: Sequence[Cue] | None,
    meta: dict[str, Any],
    *,
    transcript: Sequence[str] | None = None,
    levels: Sequence[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Tag and store the briefing's files (briefing.json last), refresh the briefing feed."""
    files = keys.edition(newsletters.current(settings).slug, day).briefing
    title = f"{settings.newsletter_name}, {spoken_date(day, 'en')}"
    mastering = Mastering.from_settings(settings)
    data = mp3.tag(
        encoded.data,
        mp3.Tags(
            title=title,
            artist=settings.newsletter_name,
            album=f"{settings.newsletter_name} briefing",
            language="en",
            url=f"{settings.public_base_url.rstrip('/')}/briefing/{day.isoformat()}",
            cover_png=cover_png(),
            chapters=chapters,
        ),
    )
    probe = mp3.probe(data)
    old_levels = [c for c in meta.get("chapters", []) if isinstance(c, dict)]
    meta = {
        **meta,
        "duration_seconds": round(probe.duration, 3),
        "bytes": probe.bytes,
        "sample_rate": probe.sample_rate,
        "bitrate_kbps": probe.bitrate // 1000,
        "loudness": encoded.record(mastering, None),
        "chapters_json": files.chapters,
        "chapters": [
            {
                "title": c.title,
                "start": round(c.start, 3),
                "end": round(c.end, 3),
                "url": c.url,
                **_levels_of(i, levels, old_levels),
            }
            for i, c in enumerate(chapters)
        ],
    }
    storage.write_bytes(files.mp3, data)
    if cues is not None:
        storage.write_bytes(files.captions, webvtt(cues).encode())
    if transcript is not None:
        storage.write_bytes(files.transcript, plain_text(transcript).encode())
    storage.write_bytes(
        files.chapters,
        json.dumps(json_chapters(title, chapters), ensure_ascii=False, indent=2).encode(),
    )
    write_meta(storage, files.meta, meta)
    # the briefing feed lists the new episode at once, whatever order the pipeline runs in
    from worker.audio.podcast import publish_briefing_feed

    publish_briefing_feed(session, settings, storage)
    return meta


def _levels_of(
    index: int, levels: Sequence[dict[str, Any]] | None, old: Sequence[dict[str, Any]]
) -> dict[str, Any]:
    if levels is not None and index < len(levels):
        return dict(levels[index])
    if index < len(old):
        return {k: v for k, v in old[index].items() if k in ("engine", "source_lufs")}
    return {}


def _public(meta: dict[str, Any]) -> dict[str, Any]:
    return {
        "duration_seconds": meta["duration_seconds"],
        "bytes": meta["bytes"],
        "key": meta["key"],
        "engine": meta.get("engine"),
        "chapters": meta.get("chapters", []),
    }
