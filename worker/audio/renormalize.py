"""Bring files made before the mastering chain (or under other settings) to it, without speaking.

`digestcast audio --renormalize`: every finished article MP3 and every briefing whose
`loudness` record (audio.json, briefing.json) is not this chain's is decoded, normalized (a
briefing chapter by chapter, as a new one would be), encoded at 44.1 kHz and tagged again.
Captions and chapters move by the new codec delay and nothing else; no TTS request is made.
The record written with the new file makes a second run find nothing to do.
"""

from __future__ import annotations

import itertools
import json
import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from worker.audio import master, mp3, pcm
from worker.audio.briefing import chapter_marks, write_briefing
from worker.audio.captions import shift_webvtt
from worker.audio.loudness import Samples
from worker.audio.master import Mastering, Track
from worker.audio.synthesis import _article_tags, write_meta
from worker.models import Audio, AudioState, Digest
from worker.settings import Settings
from worker.storage import Storage, keys

log = logging.getLogger(__name__)


def renormalize(session: Session, settings: Settings, storage: Storage) -> dict[str, Any]:
    """{"articles": n, "briefings": n, "unchanged": n, "failed": [reasons]}"""
    mastering = Mastering.from_settings(settings)
    summary: dict[str, Any] = {"articles": 0, "briefings": 0, "unchanged": 0, "failed": []}
    rows = session.scalars(
        select(Audio)
        .where(Audio.state.in_([AudioState.done, AudioState.fallback]))
        .options(joinedload(Audio.article))
        .order_by(Audio.id)
    )
    for row in list(rows):
        try:
            changed = _article(session, settings, storage, mastering, row)
        except Exception as exc:  # one bad file never stops the rest
            log.exception("renormalizing audio of article %s failed", row.article_id)
            summary["failed"].append(f"article {row.article_id}: {type(exc).__name__}: {exc}")
            continue
        _count(summary, "articles", changed)
    for digest in list(session.scalars(select(Digest).order_by(Digest.date))):
        try:
            changed = _briefing(session, settings, storage, mastering, digest)
        except Exception as exc:
            log.exception("renormalizing the briefing of %s failed", digest.date)
            summary["failed"].append(f"briefing {digest.date}: {type(exc).__name__}: {exc}")
            continue
        _count(summary, "briefings", changed)
    return summary


def _count(summary: dict[str, Any], kind: str, changed: bool | None) -> None:
    if changed:
        summary[kind] += 1
    elif changed is False:
        summary["unchanged"] += 1


def _stale(
    storage: Storage, mastering: Mastering, key: str, meta_key: str
) -> tuple[bool | None, dict[str, Any]]:
    """(None, {}) without the files; (False, record) when this chain made them; else True."""
    if not storage.exists(key) or not storage.exists(meta_key):
        return None, {}
    meta: dict[str, Any] = json.loads(storage.read_bytes(meta_key))
    return not mastering.done(meta.get("loudness")), meta


def _remaster(samples: Samples, rate: int, mastering: Mastering) -> Track:
    try:
        return master.master_samples(samples, rate, [], mastering)
    except ValueError:  # a silent stretch has no loudness to move: only the rate changes
        return Track(pcm.resample(samples, rate, master.OUTPUT_RATE), [])


def _article(
    session: Session, settings: Settings, storage: Storage, mastering: Mastering, row: Audio
) -> bool | None:
    """True when re-mastered, False when already done, None when there is no file."""
    prefix = row.article.storage_prefix
    files = keys.article(prefix).audio
    key, meta_key, vtt_key = files.mp3, files.meta, files.captions
    todo, meta = _stale(storage, mastering, key, meta_key)
    if not todo:
        return todo
    samples, rate = pcm.decode_mp3(storage.read_bytes(key))
    track = _remaster(samples, rate, mastering)
    encoded = master.encode(track, mastering)
    data = mp3.tag(encoded.data, _article_tags(settings, row.article))
    probe = mp3.probe(data)
    shift = encoded.delay
    meta.update(
        duration_seconds=round(probe.duration, 3),
        bytes=probe.bytes,
        sample_rate=probe.sample_rate,
        bitrate_kbps=probe.bitrate // 1000,
        loudness=encoded.record(mastering, track.source_lufs),
        paragraph_times=[
            [round(a + shift, 3), round(b + shift, 3)] for a, b in meta.get("paragraph_times", [])
        ],
        renormalized_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    storage.write_bytes(key, data)
    if storage.exists(vtt_key):
        vtt = shift_webvtt(storage.read_bytes(vtt_key).decode(), shift)
        storage.write_bytes(vtt_key, vtt.encode())
    write_meta(storage, meta_key, meta)  # last: the record says the set is done
    row.duration_seconds = meta["duration_seconds"]
    row.bytes = meta["bytes"]
    session.commit()
    return True


def _briefing(
    session: Session, settings: Settings, storage: Storage, mastering: Mastering, digest: Digest
) -> bool | None:
    files = keys.edition(digest.newsletter, digest.date).briefing
    key, meta_key, vtt_key = files.mp3, files.meta, files.captions
    todo, meta = _stale(storage, mastering, key, meta_key)
    if not todo:
        return todo
    samples, rate = pcm.decode_mp3(storage.read_bytes(key))
    chapters = meta.get("chapters") or [{"title": "Briefing", "start": 0.0, "url": None}]
    cuts = [min(len(samples), round(float(c["start"]) * rate)) for c in chapters[1:]]
    edges = [0, *cuts, len(samples)]
    # each story on its own, as a briefing built now is
    parts = [_remaster(samples[a:b], rate, mastering) for a, b in itertools.pairwise(edges)]
    whole, starts = master.concat(parts)
    encoded = master.encode(whole, mastering)
    marks = chapter_marks(
        [(str(c["title"]), c.get("url")) for c in chapters],
        [encoded.at(t) for t in starts],
        encoded.duration,
    )
    if storage.exists(vtt_key):
        vtt = shift_webvtt(storage.read_bytes(vtt_key).decode(), encoded.delay)
        storage.write_bytes(vtt_key, vtt.encode())
    meta["renormalized_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    write_briefing(session, settings, storage, digest.date, encoded, marks, None, meta)
    return True
