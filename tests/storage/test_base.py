"""Content types of stored files: the stdlib's table, the same on every host."""

from __future__ import annotations

import pytest

from worker.storage import content_type


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        # what the two hand-made tables (S3 uploads, the web's media) said, unchanged
        ("articles/2026/11/27/a/audio.mp3", "audio/mpeg"),
        ("articles/2026/11/27/a/audio.json", "application/json"),
        ("articles/2026/11/27/a/audio.vtt", "text/vtt; charset=utf-8"),
        ("articles/2026/11/27/a/audio.txt", "text/plain; charset=utf-8"),
        ("digests/2026-11-27/digest.html", "text/html; charset=utf-8"),
        ("podcast.xml", "application/rss+xml; charset=utf-8"),
        ("feeds/weekly/briefing.xml", "application/rss+xml; charset=utf-8"),
        ("podcast-cover.png", "image/png"),
        ("cover.jpg", "image/jpeg"),
        ("cover.JPEG", "image/jpeg"),
        ("captions.srt", "application/x-subrip"),
    ],
)
def test_content_types(key: str, expected: str) -> None:
    assert content_type(key) == expected


def test_unknown_suffixes_are_octet_streams() -> None:
    assert content_type("cache/tts/ab/blob.unknownext") == "application/octet-stream"
    assert content_type("no-suffix") == "application/octet-stream"
