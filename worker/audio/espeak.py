"""The last-resort offline engine: espeak-ng from the `espeakng-loader` wheel through ctypes.

No apt package and no network: the wheel ships the library and its voice data. The library keeps
global state (one synth callback, one current voice), so it is initialised once per process and
every synthesis holds a lock; that makes it safe to call from threads and repeatedly.
"""

from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass

import espeakng_loader

AUDIO_OUTPUT_SYNCHRONOUS = 2
POS_CHARACTER = 1
ESPEAK_CHARS_UTF8 = 1
ESPEAK_RATE = 1
EE_OK = 0

SAMPLE_RATE = 22050
VOICES = {"en": "en-us", "uk": "uk"}
DEFAULT_RATE_WPM = 170

_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


class EspeakError(RuntimeError):
    pass


@dataclass(frozen=True)
class _Lib:
    lib: ctypes.CDLL
    sample_rate: int
    callback: object  # keeps the ctypes callback alive for the process lifetime


_lock = threading.Lock()
_state: _Lib | None = None
_pcm: list[bytes] = []


def _on_samples(wav: ctypes._Pointer[ctypes.c_short], count: int, events: int | None) -> int:
    if count > 0 and wav:
        _pcm.append(ctypes.string_at(wav, count * 2))
    return 0  # 0 = keep synthesizing


def _load() -> _Lib:
    global _state
    if _state is not None:
        return _state
    lib = ctypes.CDLL(espeakng_loader.get_library_path())
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
    lib.espeak_SetSynthCallback.restype = None
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetVoiceByName.restype = ctypes.c_int
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_SetParameter.restype = ctypes.c_int
    lib.espeak_Synth.argtypes = [
        ctypes.c_void_p,
        ctypes.c_size_t,
        ctypes.c_uint,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.c_uint,
        ctypes.c_void_p,
        ctypes.c_void_p,
    ]
    lib.espeak_Synth.restype = ctypes.c_int
    lib.espeak_Synchronize.argtypes = []
    lib.espeak_Synchronize.restype = ctypes.c_int
    data = espeakng_loader.get_data_path().encode()
    rate = lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, data, 0)
    if rate <= 0:
        raise EspeakError(f"espeak_Initialize failed ({rate})")
    callback = _SynthCallback(_on_samples)
    lib.espeak_SetSynthCallback(callback)
    _state = _Lib(lib=lib, sample_rate=rate, callback=callback)
    return _state


def voice_for(language: str) -> str:
    return VOICES.get(language.split("-")[0].lower(), "en-us")


def synthesize_pcm(text: str, language: str = "en", rate_wpm: int = DEFAULT_RATE_WPM) -> bytes:
    """16-bit mono PCM at `sample_rate()` Hz for `text`."""
    with _lock:
        state = _load()
        lib = state.lib
        if lib.espeak_SetVoiceByName(voice_for(language).encode()) != EE_OK:
            raise EspeakError(f"espeak voice {voice_for(language)!r} not available")
        lib.espeak_SetParameter(ESPEAK_RATE, rate_wpm, 0)
        _pcm.clear()
        data = text.encode("utf-8") + b"\0"
        buf = ctypes.create_string_buffer(data, len(data))
        result = lib.espeak_Synth(
            buf, len(data), 0, POS_CHARACTER, 0, ESPEAK_CHARS_UTF8, None, None
        )
        if result != EE_OK:
            raise EspeakError(f"espeak_Synth failed ({result})")
        lib.espeak_Synchronize()
        pcm = b"".join(_pcm)
        _pcm.clear()
        return pcm


def sample_rate() -> int:
    with _lock:
        return _load().sample_rate


def silence_pcm(seconds: float) -> bytes:
    return b"\0\0" * int(SAMPLE_RATE * seconds)
