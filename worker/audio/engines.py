"""Which voice speaks: gTTS online, the neural English voice offline, espeak-ng as last resort.

`auto` asks Google first (one reachability probe per run, a cool-down after a failure). When
Google cannot be had, English goes to the neural voice if the `neural` extra is installed and
everything else (Ukrainian, or English without the extra) to espeak-ng. RANK orders the voices,
so `digestcast audio` can upgrade a file when a better one becomes available.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from worker.audio import espeak, neural
from worker.audio.gtts_engine import (
    GttsEngine,
    GttsFailure,
    Spoken,
    cool_down,
    cooling_down,
    endpoint_reachable,
)
from worker.audio.text import Piece
from worker.settings import Settings
from worker.storage import Storage

log = logging.getLogger(__name__)

RANK = {"espeak": 0, "neural": 1, "gtts": 2}


def chunk_plan(plan: Sequence[Sequence[Piece]]) -> list[list[str]]:
    return [[chunk for piece in pieces for chunk in piece.chunks] for pieces in plan]


def speak_espeak(settings: Settings, plan: Sequence[Sequence[Piece]], language: str) -> Spoken:
    """One PCM clip per chunk, so its cues have the same granularity as gTTS's."""
    chunks = chunk_plan(plan)
    audio = [
        [espeak.synthesize_pcm(chunk, language, settings.espeak_rate_wpm) for chunk in para]
        for para in chunks
    ]
    return Spoken(
        engine="espeak",
        voice=f"espeak-ng:{espeak.voice_for(language)}",
        paragraphs=audio,
        requests=0,
        chunks=sum(len(c) for c in chunks),
        cache_hits=0,
        pcm_rate=espeak.sample_rate(),
    )


def neural_text(piece: Piece, index: int) -> str:
    """A chunk as the neural voice reads it: with the punctuation that ends its piece."""
    text = piece.chunks[index]
    if index == len(piece.chunks) - 1:
        tail = piece.caption.rstrip()[-1:]
        if tail in ",.;:!?…" and not text.rstrip().endswith(tail):
            text = text.rstrip() + tail
    return text


def speak_neural(plan: Sequence[Sequence[Piece]]) -> Spoken:
    audio = [
        [
            neural.synthesize_pcm(neural_text(piece, i))
            for piece in pieces
            for i in range(len(piece.chunks))
        ]
        for pieces in plan
    ]
    if not any(chunk for chunks in audio for chunk in chunks):
        raise neural.NeuralError("the neural voice produced no audio")
    return Spoken(
        engine="neural",
        voice=neural.voice(),
        paragraphs=audio,
        requests=0,
        chunks=sum(len(c) for c in audio),
        cache_hits=0,
        pcm_rate=neural.SAMPLE_RATE,
    )


def offline_engine(language: str) -> str:
    return "neural" if neural.speaks(language) else "espeak"


def speak_offline(settings: Settings, plan: Sequence[Sequence[Piece]], language: str) -> Spoken:
    """The best voice that needs no network; espeak when the neural voice fails."""
    if offline_engine(language) == "neural":
        try:
            return speak_neural(plan)
        except (neural.NeuralError, ValueError) as exc:
            log.warning("neural voice failed, speaking with espeak: %s", exc)
    return speak_espeak(settings, plan, language)


@dataclass(frozen=True)
class SpeakResult:
    spoken: Spoken
    fallback_reason: str | None  # set when an offline voice spoke because gTTS could not


def gtts_usable(settings: Settings) -> bool:
    """Should `auto` try Google now? (reachable, and not cooling down after a failure)"""
    return endpoint_reachable(settings) and not cooling_down(settings)


def speak(
    settings: Settings,
    storage: Storage,
    plan: Sequence[Sequence[Piece]],
    language: str,
    *,
    engine: str | None = None,
) -> SpeakResult:
    """Speak pieces (per paragraph) with the configured engine; `auto` falls back offline."""
    choice = engine or settings.tts_engine
    if choice == "espeak":
        return SpeakResult(speak_espeak(settings, plan, language), None)
    if choice == "neural":
        if not neural.installed():
            raise neural.NeuralError(
                "TTS_ENGINE is neural but the extra is not installed: "
                "pip install 'digestcast[neural]'"
            )
        return SpeakResult(speak_offline(settings, plan, language), None)  # espeak for Ukrainian
    if choice == "auto" and not endpoint_reachable(settings):
        reason = f"gTTS endpoint unreachable ({settings.gtts_endpoint})"
        return SpeakResult(speak_offline(settings, plan, language), reason)
    if choice == "auto" and cooling_down(settings):
        reason = "gTTS failed recently; cooling down"
        return SpeakResult(speak_offline(settings, plan, language), reason)
    with GttsEngine(settings, storage) as gtts:
        try:
            return SpeakResult(gtts.speak_chunks(chunk_plan(plan), language), None)
        except GttsFailure as exc:
            if choice == "gtts":
                raise
            cool_down(settings)
            log.warning("gTTS failed, speaking offline: %s", exc)
            spoken = speak_offline(settings, plan, language)
            # the failed attempts still cost requests
            return SpeakResult(
                dataclasses.replace(spoken, requests=gtts.requests), f"gTTS failed: {exc}"
            )
