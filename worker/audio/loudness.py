"""Loudness to a target under a true-peak ceiling (pure numpy, mono float32 in [-1, 1]).

Integrated loudness is ITU-R BS.1770-4 (K-weighting, 400 ms blocks, absolute and relative
gates) as `pyloudnorm` implements it. A gain alone is not enough: speech at -16 LUFS peaks 15-20
dB above its loudness, so the peaks that would pass the ceiling are held down by a look-ahead
limiter. Peaks are true peaks (BS.1770-4 Annex 2): the signal oversampled 4x, because the
waveform between two samples rises above both, and a decoder or a resampler reproduces it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyloudnorm
import soxr
from numpy.typing import NDArray

Samples = NDArray[np.float32]

OVERSAMPLE = 4  # BS.1770-4 Annex 2 for 48 kHz and below
BLOCK_SECONDS = 0.001  # the limiter's control rate: one gain value per millisecond
ATTACK_DB_PER_SECOND = 1500.0  # the gain is already down when a peak arrives (look-ahead)
RELEASE_DB_PER_SECOND = 60.0  # and comes back this fast: 3 dB of reduction in 50 ms
_WINDOW = 1 << 18  # true peak is measured in windows, so a long briefing stays in memory bounds
_OVERLAP = 512  # input samples either side of a window: longer than soxr's filter reaches
_GATE_BLOCK = 0.4  # BS.1770's block; a shorter clip is measured padded with silence


def db_to_gain(db: float) -> float:
    return float(10.0 ** (db / 20.0))


def gain_to_db(gain: float) -> float:
    return 20.0 * math.log10(gain) if gain > 0 else -math.inf


def integrated_lufs(samples: Samples, rate: int) -> float:
    """Integrated loudness in LUFS (-inf for silence)."""
    if not len(samples):
        return -math.inf
    data = samples.astype(np.float64)
    minimum = math.ceil(_GATE_BLOCK * rate) + 1
    if len(data) < minimum:
        data = np.pad(data, (0, minimum - len(data)))
    return float(pyloudnorm.Meter(rate).integrated_loudness(data))


def block_true_peaks(samples: Samples, rate: int, block: int) -> Samples:
    """The true peak (linear) of every `block` samples: the 4x-oversampled signal's maximum."""
    count = -(-len(samples) // block)
    peaks = np.zeros(count, np.float32)
    window = block * max(1, _WINDOW // block)  # whole blocks, so windows share no block
    for start in range(0, len(samples), window):
        end = min(len(samples), start + window)
        lo, hi = max(0, start - _OVERLAP), min(len(samples), end + _OVERLAP)
        up = np.abs(soxr.resample(samples[lo:hi], rate, rate * OVERSAMPLE, "HQ"))
        inner = up[(start - lo) * OVERSAMPLE : (end - lo) * OVERSAMPLE]
        own = np.abs(samples[start:end])  # the samples themselves count too
        width = block * OVERSAMPLE
        padded = np.pad(inner, (0, (-len(inner)) % width))
        window_peaks = padded.reshape(-1, width).max(axis=1)
        own_peaks = np.pad(own, (0, (-len(own)) % block)).reshape(-1, block).max(axis=1)
        first = start // block
        size = min(len(window_peaks), len(own_peaks))
        peaks[first : first + size] = np.maximum(window_peaks[:size], own_peaks[:size])
    return peaks


def true_peak_dbtp(samples: Samples, rate: int) -> float:
    if not len(samples):
        return -math.inf
    block = max(1, round(rate * BLOCK_SECONDS))
    return gain_to_db(float(block_true_peaks(samples, rate, block).max()))


def limit(samples: Samples, rate: int, ceiling_dbtp: float) -> Samples:
    """Hold every true peak at or below `ceiling_dbtp`, with a smooth gain (look-ahead limiter).

    Per block, the gain in dB that the block's true peak needs; every block takes the smallest
    of its neighbours' needs (so the gain interpolated between blocks never overshoots); then the
    gain may fall toward a coming peak at most ATTACK dB/s and rise after it at most RELEASE dB/s:
    each is a running minimum of "need + slope x distance", computed with cumulative minima.
    """
    if not len(samples):
        return samples
    block = max(1, round(rate * BLOCK_SECONDS))
    peaks = block_true_peaks(samples, rate, block).astype(np.float64)
    with np.errstate(divide="ignore"):
        need = np.minimum(0.0, ceiling_dbtp - 20.0 * np.log10(np.maximum(peaks, 1e-12)))
    if need.min() >= 0.0:
        return samples
    padded = np.pad(need, 1, mode="edge")
    need = np.minimum(np.minimum(padded[:-2], padded[1:-1]), padded[2:])
    index = np.arange(len(need), dtype=np.float64)
    release = RELEASE_DB_PER_SECOND * BLOCK_SECONDS
    attack = ATTACK_DB_PER_SECOND * BLOCK_SECONDS
    after = index * release + np.minimum.accumulate(need - index * release)
    before = -index * attack + np.minimum.accumulate((need + index * attack)[::-1])[::-1]
    gain_db = np.minimum(np.minimum(after, before), 0.0)
    centres = (index + 0.5) * block
    positions = np.arange(len(samples), dtype=np.float64)
    gain = np.power(10.0, np.interp(positions, centres, gain_db) / 20.0)
    return (samples * gain).astype(np.float32)


@dataclass(frozen=True)
class Levels:
    lufs: float
    true_peak_dbtp: float


def measure(samples: Samples, rate: int) -> Levels:
    return Levels(integrated_lufs(samples, rate), true_peak_dbtp(samples, rate))


@dataclass(frozen=True)
class Normalized:
    samples: Samples
    source_lufs: float  # where it came in
    lufs: float  # as last measured (before a final limiter pass)
    gain_db: float  # the gain before limiting (limiting takes a little back, peaks only)


def normalize(
    samples: Samples,
    rate: int,
    target_lufs: float,
    ceiling_dbtp: float,
    *,
    tolerance_lu: float = 0.2,
    rounds: int = 3,
    source_lufs: float | None = None,
) -> Normalized:
    """Gain to `target_lufs`, peaks limited to `ceiling_dbtp`; the loudness the limiter takes
    is made up and limited again (at most `rounds` limiter passes) while the level is more than
    `tolerance_lu` short. The last pass is not measured again: the encoded file is.

    `source_lufs`: the level when already known (measured before resampling, at fewer samples).
    Silence stays silence (it has no loudness to scale).
    """
    source = integrated_lufs(samples, rate) if source_lufs is None else source_lufs
    if not math.isfinite(source):
        return Normalized(samples, source, source, 0.0)
    gain_db = target_lufs - source
    out = (samples * db_to_gain(gain_db)).astype(np.float32)
    level = target_lufs
    for done in range(1, rounds + 1):
        limited = limit(out, rate, ceiling_dbtp)
        if limited is out:  # no peak over the ceiling: the gain alone set the level exactly
            break
        out = limited
        if done == rounds:
            break
        level = integrated_lufs(out, rate)
        short = target_lufs - level
        if short <= tolerance_lu:
            break
        out = (out * db_to_gain(short)).astype(np.float32)
        gain_db += short
    return Normalized(out, source, level, gain_db)
