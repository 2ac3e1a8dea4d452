"""The normalizer and limiter on synthetic signals of known level, checked independently."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.audio.levels import lufs, true_peak
from worker.audio import loudness

RATE = 44100


def tone(amplitude: float, seconds: float = 5.0, frequency: float = 997.0) -> np.ndarray:
    n = np.arange(int(RATE * seconds))
    return (amplitude * np.sin(2 * np.pi * frequency * n / RATE)).astype(np.float32)


def test_a_997_hz_tone_measures_its_known_level() -> None:
    # BS.1770: a full-scale 997 Hz sine in one channel reads -3.01 LUFS; the level scales in dB
    for dbfs in (-6.0, -20.0, -40.0):
        signal = tone(10 ** (dbfs / 20))
        assert loudness.integrated_lufs(signal, RATE) == pytest.approx(dbfs - 3.01, abs=0.1)
        assert loudness.true_peak_dbtp(signal, RATE) == pytest.approx(dbfs, abs=0.05)
    assert loudness.integrated_lufs(np.zeros(RATE, np.float32), RATE) == -math.inf


def test_true_peak_sees_between_the_samples() -> None:
    # a sine at a quarter of the rate, sampled 45 degrees off its crests: every sample is 3 dB
    # under the waveform's peak, which a decoder's reconstruction reaches
    n = np.arange(RATE * 2)
    fade = np.minimum(1.0, n / 2000.0) * np.minimum(1.0, (len(n) - n) / 2000.0)
    signal = (0.5 * fade * np.sin(2 * np.pi * (RATE / 4) * n / RATE + np.pi / 4)).astype(np.float32)
    sample_peak = 20 * math.log10(float(np.abs(signal).max()))
    assert sample_peak == pytest.approx(-9.03, abs=0.05)
    assert loudness.true_peak_dbtp(signal, RATE) == pytest.approx(-6.02, abs=0.15)
    assert true_peak(signal.astype(np.float64), RATE) == pytest.approx(-6.02, abs=0.15)


def test_a_quiet_tone_is_brought_to_the_target_by_gain_alone() -> None:
    quiet = tone(10 ** (-33.0 / 20))  # -36 LUFS, peaks at -33 dBFS
    result = loudness.normalize(quiet, RATE, -16.0, -1.0)
    assert result.source_lufs == pytest.approx(-36.0, abs=0.1)
    assert result.gain_db == pytest.approx(20.0, abs=0.1)
    assert lufs(result.samples.astype(np.float64), RATE) == pytest.approx(-16.0, abs=0.1)
    # a -16 LUFS sine peaks at -13 dBFS: nothing for the limiter to do, the wave is unchanged
    expected = quiet * loudness.db_to_gain(result.gain_db)
    np.testing.assert_allclose(result.samples, expected, rtol=1e-4, atol=1e-6)


def test_peaks_are_limited_while_the_level_reaches_the_target() -> None:
    rng = np.random.default_rng(7)
    speechlike = tone(0.05, seconds=8.0, frequency=180.0) * (
        0.5 + 0.5 * np.abs(np.sin(np.arange(RATE * 8) / RATE * 4))
    )
    clicks = np.zeros_like(speechlike)
    clicks[rng.integers(0, len(clicks), 40)] = 0.9  # plosives: far above the rest
    signal = (speechlike + clicks).astype(np.float32)
    assert true_peak(signal.astype(np.float64), RATE) > -1.5
    result = loudness.normalize(signal, RATE, -16.0, -1.0)
    out = result.samples.astype(np.float64)
    assert lufs(out, RATE) == pytest.approx(-16.0, abs=0.25)
    assert true_peak(out, RATE) <= -1.0 + 0.05
    # a smooth gain, not clipping: from one sample to the next it moves by a hundredth of a dB
    audible = np.abs(signal) > 1e-3
    gain_db = 20 * np.log10(np.abs(out[audible] / signal[audible]))
    neighbours = np.diff(np.flatnonzero(audible)) == 1
    assert np.abs(np.diff(gain_db))[neighbours].max() < 0.1
    assert gain_db.max() - gain_db.min() > 3  # and the limiter did work


def test_limit_leaves_a_signal_under_the_ceiling_alone_and_silence_stays_silent() -> None:
    signal = tone(0.2)
    assert loudness.limit(signal, RATE, -1.0) is signal
    silent = np.zeros(RATE, np.float32)
    result = loudness.normalize(silent, RATE, -16.0, -1.0)
    assert not result.samples.any() and result.source_lufs == -math.inf
