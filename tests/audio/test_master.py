"""The mastering chain's constants against the outside world, and its record of what it did."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pydantic
import pytest

from tests.audio.levels import ffmpeg
from worker.audio import loudness, master, mp3, pcm
from worker.settings import Settings

RATE = master.OUTPUT_RATE


def test_the_codec_delay_is_where_ffmpeg_plays_a_click(tmp_path: Path) -> None:
    """Captions and chapters add CODEC_DELAY_SAMPLES; ffmpeg and miniaudio agree on it."""
    signal = np.zeros(RATE, np.float32)
    signal[RATE // 2] = 0.8
    path = tmp_path / "click.mp3"
    path.write_bytes(mp3.join([pcm.encode_mp3(signal, RATE, 96)]).data)
    decoded = subprocess.run(
        [ffmpeg(), "-v", "error", "-i", str(path), "-f", "s16le", "-ac", "1", "-"],
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout
    played = np.frombuffer(decoded, dtype="<i2")
    assert int(np.argmax(np.abs(played))) - RATE // 2 == pcm.CODEC_DELAY_SAMPLES
    ours, _ = pcm.decode_mp3(path.read_bytes())
    assert int(np.argmax(np.abs(ours))) - RATE // 2 == pcm.CODEC_DELAY_SAMPLES


def test_lame_mono_comes_out_as_much_quieter_as_the_chain_expects() -> None:
    n = np.arange(RATE * 4)
    sine = (0.25 * np.sin(2 * np.pi * 1000 * n / RATE)).astype(np.float32)
    decoded, _ = pcm.decode_mp3(mp3.join([pcm.encode_mp3(sine, RATE, 96)]).data)
    loss = loudness.integrated_lufs(sine, RATE) - loudness.integrated_lufs(decoded, RATE)
    assert loss == pytest.approx(master.CODEC_LOSS_DB, abs=0.1)


def test_encode_meets_the_target_on_the_file_even_from_a_hot_track() -> None:
    rng = np.random.default_rng(3)
    n = np.arange(RATE * 6)
    voiced = 0.8 * np.sin(2 * np.pi * 140 * n / RATE) * (0.6 + 0.4 * np.sin(n / RATE * 5))
    hot = (voiced + 0.05 * rng.standard_normal(len(n))).astype(np.float32)
    assert loudness.true_peak_dbtp(hot, RATE) > -1.0  # a track nobody limited
    settings = master.Mastering()
    encoded = master.encode(master.Track(hot, []), settings)
    assert encoded.levels.true_peak_dbtp <= settings.ceiling_dbtp
    assert encoded.levels.lufs == pytest.approx(
        settings.target_lufs, abs=master.LOUDNESS_TOLERANCE_LU
    )
    record = encoded.record(settings, -12.5)
    assert settings.done(record) and record["source_lufs"] == -12.5
    assert not master.Mastering(bitrate_kbps=128).done(record)
    assert not settings.done(None) and not settings.done({"version": 0})


def test_the_bitrate_setting_must_be_an_mp3_bitrate() -> None:
    assert Settings(audio_bitrate_kbps=128).audio_bitrate_kbps == 128
    with pytest.raises(pydantic.ValidationError, match="Layer III bitrate"):
        Settings(audio_bitrate_kbps=100)
