"""worker/audio/pcm.py: samples in and out (decode MP3, PCM16, resample, encode)."""

from __future__ import annotations

import lameenc
import numpy as np
import pytest

from worker.audio import mp3, pcm
from worker.audio.loudness import Samples

RATE = 22050


def tone(seconds: float = 1.0, amplitude: float = 0.5, rate: int = RATE) -> Samples:
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def id3v2(size: int = 64) -> bytes:
    """An ID3v2.4 tag of `size` bytes of padding (its size is "syncsafe": 7 bits a byte)."""
    syncsafe = bytes((size >> shift) & 0x7F for shift in (21, 14, 7, 0))
    return b"ID3\x04\x00\x00" + syncsafe + b"\x00" * size


# ---------------------------------------------------------------- PCM16
def test_pcm16_round_trip_within_one_step() -> None:
    samples = np.array([0.0, 0.5, -0.5, 0.25, -1.0, 32767 / 32768], dtype=np.float32)
    back = pcm.from_pcm16(pcm.to_pcm16(samples))
    assert back.dtype == np.float32
    assert np.max(np.abs(back - samples)) <= 1 / 32767


def test_to_pcm16_clips_out_of_range_instead_of_wrapping() -> None:
    data = pcm.to_pcm16(np.array([2.0, -2.0, 1.0, -1.0], dtype=np.float32))
    assert np.frombuffer(data, dtype="<i2").tolist() == [32767, -32768, 32767, -32767]


def test_from_pcm16_is_little_endian_and_scaled() -> None:
    samples = pcm.from_pcm16(b"\x00\x40" + b"\x00\xc0" + b"\x00\x80")
    assert samples.tolist() == [0.5, -0.5, -1.0]


def test_empty_pcm() -> None:
    assert pcm.to_pcm16(np.zeros(0, dtype=np.float32)) == b""
    assert len(pcm.from_pcm16(b"")) == 0


# ---------------------------------------------------------------- resample
def test_resample_changes_the_length_by_the_ratio() -> None:
    out = pcm.resample(tone(1.0), RATE, 44100)
    assert out.dtype == np.float32
    assert len(out) == 44100
    # a 440 Hz tone stays a 440 Hz tone: zero crossings per second are unchanged
    crossings = np.count_nonzero(np.diff(np.signbit(out[1000:-1000])))
    assert crossings == pytest.approx(880 * (len(out) - 2000) / 44100, rel=0.01)


def test_resample_same_rate_or_nothing_is_the_input_itself() -> None:
    samples = tone(0.1)
    assert pcm.resample(samples, RATE, RATE) is samples
    empty = np.zeros(0, dtype=np.float32)
    assert pcm.resample(empty, RATE, 44100) is empty


# ---------------------------------------------------------------- MP3
def test_encode_then_decode_keeps_rate_level_and_the_codec_delay() -> None:
    silence = np.zeros(RATE // 2, dtype=np.float32)
    samples = np.concatenate([silence, tone(1.0)])
    data = pcm.encode_mp3(samples, RATE, 64)
    assert not data.startswith(b"ID3")  # frames only: mp3.join adds tags and an Info frame
    decoded, rate = pcm.decode_mp3(data)
    assert rate == RATE and decoded.dtype == np.float32
    assert len(decoded) >= len(samples) + pcm.CODEC_DELAY_SAMPLES - 1152  # whole frames
    onset = int(np.argmax(np.abs(decoded) > 0.05))
    assert abs(onset - (len(silence) + pcm.CODEC_DELAY_SAMPLES)) <= 2
    body = decoded[onset + 2000 : onset + 12000]
    assert np.max(np.abs(body)) == pytest.approx(0.5, abs=0.05)


def test_a_tag_in_front_is_not_audio() -> None:
    data = pcm.encode_mp3(tone(0.5), RATE, 64)
    plain, _ = pcm.decode_mp3(data)
    tagged, _ = pcm.decode_mp3(id3v2() + data)
    assert len(tagged) == len(plain)
    assert np.array_equal(tagged, plain)


def test_stereo_is_mixed_down_to_mono() -> None:
    left = tone(0.5)
    interleaved = np.stack([left, np.zeros_like(left)], axis=1).reshape(-1)
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(64)
    encoder.set_in_sample_rate(RATE)
    encoder.set_channels(2)
    encoder.set_quality(5)
    data = bytes(encoder.encode(pcm.to_pcm16(interleaved))) + bytes(encoder.flush())
    decoded, rate = pcm.decode_mp3(data)
    assert rate == RATE
    assert len(decoded) < len(interleaved)  # one sample per frame, not two
    assert np.max(np.abs(decoded)) == pytest.approx(0.25, abs=0.03)  # the mean of the two


@pytest.mark.parametrize("data", [b"", b"not an mp3 at all" * 20, id3v2()])
def test_no_audio_frames_is_a_clear_error(data: bytes) -> None:
    with pytest.raises(mp3.MP3Error, match="no MPEG audio frames"):
        pcm.decode_mp3(data)
