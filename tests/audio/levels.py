"""Measuring finished files the way a listener's tools do, independently of worker.audio.

Loudness with pyloudnorm (ITU-R BS.1770-4), true peak by 4x oversampling with scipy's
polyphase resampler (the production code uses soxr, so the two cross-check), and ffmpeg's own
`ebur128` filter and ffprobe for the outside world's view.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import miniaudio
import numpy as np
import pyloudnorm
from scipy.signal import resample_poly

from tests.conftest import unavailable

EBUR128 = ("-af", "ebur128=peak=true", "-f", "null", "-")
TARGET_LUFS = -16.0
CEILING_DBTP = -1.0


def decode(data: bytes) -> tuple[np.ndarray[Any, Any], int]:
    decoded = miniaudio.mp3_read_f32(data)
    samples = np.frombuffer(decoded.samples, dtype=np.float32).astype(np.float64)
    return samples.reshape(-1, decoded.nchannels).mean(axis=1), decoded.sample_rate


def lufs(samples: np.ndarray[Any, Any], rate: int) -> float:
    return float(pyloudnorm.Meter(rate).integrated_loudness(samples))


def true_peak(samples: np.ndarray[Any, Any], rate: int) -> float:
    peak = float(np.abs(resample_poly(samples, 4, 1)).max())
    return 20 * math.log10(peak) if peak > 0 else -math.inf


def levels(data: bytes) -> tuple[float, float, int]:
    """(integrated LUFS, true peak dBTP, sample rate) of an MP3."""
    samples, rate = decode(data)
    return lufs(samples, rate), true_peak(samples, rate), rate


def assert_podcast_grade(data: bytes) -> tuple[float, float]:
    level, peak, rate = levels(data)
    assert rate == 44100
    assert abs(level - TARGET_LUFS) <= 1.0, f"{level:.2f} LUFS"
    assert peak <= CEILING_DBTP, f"true peak {peak:.2f} dBTP"
    return level, peak


def ffmpeg() -> str:
    path = shutil.which("ffmpeg")
    if path is None or shutil.which("ffprobe") is None:
        unavailable("ffmpeg/ffprobe not installed (.ci/run installs Debian's ffmpeg)")
    return str(path)


def ebur128(path: Path) -> tuple[float, float]:
    """ffmpeg's own measurement: (integrated LUFS, true peak dBTP)."""
    result = subprocess.run(
        [ffmpeg(), "-nostats", "-hide_banner", "-i", str(path), *EBUR128],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    summary = result.stderr[result.stderr.rindex("Summary:") :]
    integrated = re.search(r"I:\s+(-?[\d.]+|-inf) LUFS", summary)
    peak = re.search(r"Peak:\s+(-?[\d.]+|-inf) dBFS", summary)
    assert integrated and peak, summary
    return float(integrated[1]), float(peak[1])


def ffprobe(path: Path) -> dict[str, Any]:
    ffmpeg()
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-show_chapters", "-show_streams", "-of", "json", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    info: dict[str, Any] = json.loads(result.stdout)
    return info


def to_m4a(path: Path, out: Path) -> Path:
    """AAC in MP4, chapters carried over by ffmpeg. `-vn`: the embedded cover is a PNG, which
    ffmpeg would otherwise try to turn into an H.264 video stream that .m4a cannot hold."""
    subprocess.run(
        [ffmpeg(), "-v", "error", "-y", "-i", str(path), "-vn", "-c:a", "aac", str(out)],
        capture_output=True,
        timeout=300,
        check=True,
    )
    return out


def chapter_times(path: Path) -> list[tuple[str, float, float]]:
    """(title, start, end) per chapter as ffprobe lists them (file order)."""
    return [
        (c.get("tags", {}).get("title", ""), float(c["start_time"]), float(c["end_time"]))
        for c in ffprobe(path)["chapters"]
    ]
