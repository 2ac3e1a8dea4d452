"""Audio samples in and out: decode MP3 (miniaudio, no ffmpeg), resample (soxr), encode (LAME).

Everything between the engines and the finished file is mono float32 in [-1, 1] at the
engine's own rate until `resample` brings it to the podcast rate.
"""

from __future__ import annotations

import lameenc
import miniaudio
import numpy as np
import soxr

from worker.audio import mp3
from worker.audio.loudness import Samples

# LAME's encoder delay (576) plus the decoder's (529): a sample at time t of the PCM is heard at
# t + this many samples, in every decoder that does not read a LAME gapless tag (we write none)
CODEC_DELAY_SAMPLES = 1105


def decode_mp3(data: bytes) -> tuple[Samples, int]:
    """The samples and rate of one MP3 (its tags and Xing/Info frame are not audio)."""
    frames = b"".join(frame for _, frame in mp3.frames(data))
    if not frames:
        raise mp3.MP3Error("no MPEG audio frames found")
    try:
        decoded = miniaudio.mp3_read_f32(frames)
    except miniaudio.DecodeError as exc:
        raise mp3.MP3Error(f"undecodable MP3: {exc}") from exc
    samples = np.frombuffer(decoded.samples, dtype=np.float32)
    if decoded.nchannels > 1:
        samples = samples.reshape(-1, decoded.nchannels).mean(axis=1, dtype=np.float32)
    return samples.copy(), int(decoded.sample_rate)


def from_pcm16(data: bytes) -> Samples:
    return (np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0).astype(np.float32)


def to_pcm16(samples: Samples) -> bytes:
    scaled = np.clip(np.rint(samples * 32767.0), -32768, 32767)
    return bytes(scaled.astype("<i2").tobytes())


def resample(samples: Samples, rate: int, target: int) -> Samples:
    if rate == target or not len(samples):
        return samples
    out: Samples = soxr.resample(samples, rate, target, "VHQ")
    return out


def encode_mp3(samples: Samples, rate: int, bitrate_kbps: int, quality: int = 5) -> bytes:
    """CBR mono MP3 frames (no tag, no Info frame: `mp3.join` adds one for the whole file)."""
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(bitrate_kbps)
    encoder.set_in_sample_rate(rate)
    encoder.set_out_sample_rate(rate)
    encoder.set_channels(1)
    encoder.set_quality(quality)
    return bytes(encoder.encode(to_pcm16(samples))) + bytes(encoder.flush())
