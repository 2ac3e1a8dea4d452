"""Podcast-grade output: engine speech -> 44.1 kHz -> -16 LUFS under -1 dBTP -> CBR MP3, checked.

Each engine's raw speech (gTTS MP3 chunks at 24 kHz, espeak and neural PCM at 22.05/24 kHz) is
joined at its own rate, resampled once to 44.1 kHz (soxr), normalized as one programme (a
briefing: each story on its own, then joined), encoded at AUDIO_BITRATE_KBPS, and then decoded
again and measured: MP3 encoding moves peaks, so the ceiling is proven on the file itself and
the limiter is tightened until it holds. Chunk times are kept in seconds throughout, so
captions and chapters stay exact whatever the rates.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from worker.audio import loudness, mp3, pcm
from worker.audio.gtts_engine import Spoken
from worker.audio.loudness import Levels, Samples
from worker.settings import Settings

OUTPUT_RATE = 44100
LIMIT_MARGIN_DB = 0.5  # the limiter aims this far below the ceiling: encoding adds overshoot
# LAME's mono files decode this much quieter than their input (a 1 kHz sine and speech alike,
# lameenc and ffmpeg's libmp3lame the same), so the samples aim this much above the target
CODEC_LOSS_DB = 0.45
LOUDNESS_TOLERANCE_LU = 0.3  # of the encoded file; Apple asks for +-1
# the encoded file's true peak must be this far under the ceiling: other meters (ffmpeg's
# ebur128 oversamples to 192 kHz) read a few hundredths of a dB apart from ours
PEAK_MARGIN_DB = 0.2
MAX_ENCODES = 4
# bump when the mastering chain changes, so `digestcast audio --renormalize` redoes every file
MASTER_VERSION = 1


@dataclass(frozen=True)
class Mastering:
    target_lufs: float = -16.0
    ceiling_dbtp: float = -1.0
    bitrate_kbps: int = 96
    sample_rate: int = OUTPUT_RATE

    @classmethod
    def from_settings(cls, settings: Settings) -> Mastering:
        return cls(
            target_lufs=settings.audio_loudness_lufs,
            ceiling_dbtp=settings.audio_true_peak_dbtp,
            bitrate_kbps=settings.audio_bitrate_kbps,
        )

    def done(self, record: Any) -> bool:
        """Was a file with this `loudness` record (audio.json) made by this very chain?"""
        if not isinstance(record, dict):
            return False
        return (
            record.get("version") == MASTER_VERSION
            and record.get("target_lufs") == self.target_lufs
            and record.get("ceiling_dbtp") == self.ceiling_dbtp
            and record.get("bitrate_kbps") == self.bitrate_kbps
            and record.get("sample_rate") == self.sample_rate
        )


@dataclass(frozen=True)
class Track:
    """Normalized samples at the output rate and each chunk's (start, end) in seconds."""

    samples: Samples
    spans: list[tuple[float, float]]
    source_lufs: float | None = None  # the level it came in at (for ops: how far it moved)

    @property
    def seconds(self) -> float:
        return len(self.samples) / OUTPUT_RATE


def chunk_samples(spoken: Spoken) -> tuple[list[Samples], int]:
    """Every chunk's samples at one rate (the engine's own)."""
    flat = [chunk for chunks in spoken.paragraphs for chunk in chunks]
    if spoken.pcm_rate is not None:
        return [pcm.from_pcm16(chunk) for chunk in flat], spoken.pcm_rate
    decoded = [pcm.decode_mp3(chunk) for chunk in flat]
    if not decoded:
        raise mp3.MP3Error("no MPEG audio frames found")
    rate = decoded[0][1]
    return [pcm.resample(samples, own, rate) for samples, own in decoded], rate


def master(spoken: Spoken, mastering: Mastering) -> Track:
    clips, rate = chunk_samples(spoken)
    spans: list[tuple[float, float]] = []
    position = 0
    for clip in clips:
        spans.append((position / rate, (position + len(clip)) / rate))
        position += len(clip)
    joined = np.concatenate(clips) if clips else np.zeros(0, np.float32)
    return master_samples(joined, rate, spans, mastering)


def master_samples(
    samples: Samples, rate: int, spans: list[tuple[float, float]], mastering: Mastering
) -> Track:
    """Resample and normalize one programme part whose chunk times are already known."""
    if not len(samples) or not np.any(samples):
        raise ValueError("the engine produced no audio")
    samples = samples.astype(np.float32)
    source = loudness.integrated_lufs(samples, rate)  # before resampling: fewer samples
    result = loudness.normalize(
        pcm.resample(samples, rate, OUTPUT_RATE),
        OUTPUT_RATE,
        mastering.target_lufs + CODEC_LOSS_DB,
        mastering.ceiling_dbtp - LIMIT_MARGIN_DB,
        source_lufs=source,
    )
    return Track(result.samples, spans, result.source_lufs)


def concat(tracks: Sequence[Track]) -> tuple[Track, list[float]]:
    """One track of several (a briefing's stories), and where each part starts (seconds)."""
    starts: list[float] = []
    spans: list[tuple[float, float]] = []
    position = 0
    for track in tracks:
        offset = position / OUTPUT_RATE
        starts.append(offset)
        spans += [(a + offset, b + offset) for a, b in track.spans]
        position += len(track.samples)
    samples = np.concatenate([t.samples for t in tracks]) if tracks else np.zeros(0, np.float32)
    return Track(samples, spans), starts


@dataclass(frozen=True)
class Encoded:
    """An untagged MP3 (one Info frame) and how it measures after decoding."""

    data: bytes
    duration: float
    levels: Levels
    delay: float  # seconds from a PCM sample to where a decoder plays it

    def at(self, seconds: float) -> float:
        """Where a moment of the track is heard in the file."""
        return seconds + self.delay

    def record(self, mastering: Mastering, source_lufs: float | None) -> dict[str, Any]:
        return {
            "version": MASTER_VERSION,
            "target_lufs": mastering.target_lufs,
            "ceiling_dbtp": mastering.ceiling_dbtp,
            "bitrate_kbps": mastering.bitrate_kbps,
            "sample_rate": mastering.sample_rate,
            "integrated_lufs": rounded(self.levels.lufs),
            "true_peak_dbtp": rounded(self.levels.true_peak_dbtp),
            "source_lufs": rounded(source_lufs) if source_lufs is not None else None,
        }


def rounded(value: float) -> float | None:
    return round(value, 2) if math.isfinite(value) else None


def encode(track: Track, mastering: Mastering) -> Encoded:
    """Encode, decode, measure; correct the level and tighten the limiter until the file itself
    is within the loudness tolerance and under the true-peak ceiling."""
    samples = track.samples
    ceiling = mastering.ceiling_dbtp - LIMIT_MARGIN_DB
    for attempt in range(MAX_ENCODES):
        joined = mp3.join([pcm.encode_mp3(samples, OUTPUT_RATE, mastering.bitrate_kbps)])
        decoded, rate = pcm.decode_mp3(joined.data)
        levels = loudness.measure(decoded, rate)
        over = levels.true_peak_dbtp - mastering.ceiling_dbtp
        short = mastering.target_lufs - levels.lufs
        if not math.isfinite(short) or attempt == MAX_ENCODES - 1:
            break
        if over <= -PEAK_MARGIN_DB and abs(short) <= LOUDNESS_TOLERANCE_LU:
            break
        if over > -PEAK_MARGIN_DB:
            ceiling -= over + 0.3
        if attempt == MAX_ENCODES - 2 and over > -PEAK_MARGIN_DB:
            # the limiter has not got it down: lower everything (the level gives a little)
            samples = (samples * loudness.db_to_gain(-(over + 0.3))).astype(np.float32)
            continue
        if abs(short) > LOUDNESS_TOLERANCE_LU:
            samples = (samples * loudness.db_to_gain(short)).astype(np.float32)
        samples = loudness.limit(samples, OUTPUT_RATE, ceiling)
    return Encoded(
        data=joined.data,
        duration=joined.duration,
        levels=levels,
        delay=pcm.CODEC_DELAY_SAMPLES / OUTPUT_RATE,
    )
