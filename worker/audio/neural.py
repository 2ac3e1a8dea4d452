"""The offline neural English voice: hibari-tts (Apache-2.0; ONNX model and lexicon in its wheel).

Optional: `pip install digestcast[neural]` brings it (numpy and onnxruntime, no PyTorch). The
model is loaded once per process and only the voice inside the wheel is used, so nothing is
ever downloaded. Each chunk is spoken with the punctuation that ended it in the written text
(gTTS's tokenizer drops it), so a phrase cut at a comma keeps its continuing intonation. The
noise component is seeded: the same text always gives the same audio.
"""

from __future__ import annotations

import importlib.util
import threading
from typing import Any

import numpy as np

from worker.audio.loudness import Samples

VOICE = "heart"  # American English, the one voice shipped inside the wheel
SAMPLE_RATE = 24000
LANGUAGES = ("en",)


class NeuralError(RuntimeError):
    pass


_lock = threading.Lock()
_model: Any = None


def installed() -> bool:
    """Is the `neural` extra installed (hibari and onnxruntime importable)?"""
    return all(importlib.util.find_spec(name) is not None for name in ("hibari", "onnxruntime"))


def speaks(language: str) -> bool:
    return language.split("-")[0].lower() in LANGUAGES and installed()


def voice() -> str:
    return f"hibari:{VOICE}"


def _load() -> Any:
    global _model
    if _model is None:
        if not installed():
            raise NeuralError("the neural voice is not installed: pip install 'digestcast[neural]'")
        from hibari import Hibari

        # one onnxruntime thread: workers run several articles side by side on few cores
        _model = Hibari(voice=VOICE, threads=1)
    return _model


def synthesize(text: str, *, speed: float = 1.0) -> Samples:
    """Float32 mono samples at SAMPLE_RATE for `text` (empty when nothing is pronounceable)."""
    with _lock:
        model = _load()
        try:
            audio = model(text, speed=speed, seed=0)
        except Exception as exc:  # the G2P or the model refusing odd input
            raise NeuralError(f"hibari failed on {text[:40]!r}: {exc}") from exc
        rate = int(getattr(model, "sample_rate", SAMPLE_RATE))
    if rate != SAMPLE_RATE:  # pragma: no cover - a future hibari at another rate
        raise NeuralError(f"hibari speaks at {rate} Hz, expected {SAMPLE_RATE}")
    return np.asarray(audio, dtype=np.float32)


def synthesize_pcm(text: str, *, speed: float = 1.0) -> bytes:
    """16-bit mono PCM at SAMPLE_RATE."""
    from worker.audio.pcm import to_pcm16

    return to_pcm16(synthesize(text, speed=speed))
