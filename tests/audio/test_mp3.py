"""Frame-level joining, Info header, ID3 tags and chapters, read back with mutagen."""

from __future__ import annotations

import io
import struct

import pytest
from mutagen.id3 import ID3
from mutagen.mp3 import MP3

from tests.audio.gtts_emulator import tone_mp3
from worker.audio import espeak, mp3, pcm
from worker.audio.cover import cover_png


def _xing_chunk(text: str) -> bytes:
    """A chunk as some encoders write it: ID3v2, a Xing frame, audio, an ID3v1 tag."""
    data = tone_mp3(text, id3=False)
    first = mp3.parse_header(data, 0)
    assert first is not None
    frame = bytearray(data[: first.length])
    offset = 4 + first.side_info
    frame[4:] = bytes(len(frame) - 4)
    frame[offset : offset + 16] = b"Xing" + struct.pack(">III", 3, 9999, 999999)
    id3v2 = b"ID3\x03\x00\x00\x00\x00\x00\x0a" + b"\x00" * 10
    id3v1 = b"TAG" + b"\x00" * 125
    return id3v2 + bytes(frame) + data + id3v1


def test_join_strips_tags_and_stray_xing_frames_and_keeps_the_exact_duration() -> None:
    parts = ["First chunk of speech.", "Second, a little longer chunk of speech.", "Third."]
    chunks = [_xing_chunk(t) for t in parts]
    plain = [tone_mp3(t, id3=False) for t in parts]
    naive = b"".join(chunks)
    naive_length = MP3(io.BytesIO(naive)).info.length  # the first Xing header lies
    joined = mp3.join(chunks)
    expected = sum(mp3.duration_of(p) for p in plain)
    assert joined.duration == pytest.approx(expected)
    assert naive_length != pytest.approx(expected, abs=0.5)
    assert b"ID3" not in joined.data and b"TAG" not in joined.data[-128:]
    assert joined.data.count(b"Xing") + joined.data.count(b"Info") == 1  # only our own header
    info = MP3(io.BytesIO(joined.data)).info
    assert info.length == pytest.approx(expected, abs=0.001)
    assert info.sample_rate == 24000
    # chunk boundaries are contiguous and cover the whole stream
    assert joined.boundaries[0][0] == 0.0
    for (_, end), (start, _) in zip(joined.boundaries, joined.boundaries[1:], strict=False):
        assert end == start
    assert joined.boundaries[-1][1] == pytest.approx(joined.duration)


def test_join_refuses_mixed_sample_rates() -> None:
    with pytest.raises(mp3.MP3Error):
        offline = pcm.from_pcm16(espeak.synthesize_pcm("b"))  # 22.05 kHz
        mp3.join([tone_mp3("a"), pcm.encode_mp3(offline, espeak.SAMPLE_RATE, 48)])
    with pytest.raises(mp3.MP3Error):
        mp3.join([b"not an mp3 at all" * 10])


def test_junk_between_frames_is_skipped() -> None:
    a, b = tone_mp3("one", id3=False), tone_mp3("two", id3=False)
    joined = mp3.join([a + b"\x00garbage\xff\x00" + b])
    assert joined.duration == pytest.approx(mp3.duration_of(a) + mp3.duration_of(b))


def test_tags_cover_url_and_chapters_are_readable() -> None:
    joined = mp3.join([tone_mp3("Intro."), tone_mp3("Story one."), tone_mp3("Outro.")])
    (s0, e0), (s1, e1), (s2, e2) = joined.boundaries
    chapters = [
        mp3.Chapter("Intro", s0, e0),
        mp3.Chapter("Story one", s1, e1, "https://news.example.org/1"),
        mp3.Chapter("Outro", s2, e2),
    ]
    data = mp3.tag(
        joined.data,
        mp3.Tags(
            title="Київ: a title",
            artist="Ukraine Daily",
            album="Ukraine Daily 2026-11-27",
            language="uk",
            url="https://news.example.org/1",
            cover_png=cover_png(),
            chapters=chapters,
        ),
    )
    tags = ID3(io.BytesIO(data))
    assert tags.version[:2] == (2, 3)
    assert str(tags["TIT2"]) == "Київ: a title"
    assert str(tags["TPE1"]) == "Ukraine Daily"
    assert str(tags["TALB"]) == "Ukraine Daily 2026-11-27"
    assert str(tags["TLAN"]) == "ukr"
    assert tags["WOAS"].url == "https://news.example.org/1"
    apic = tags.getall("APIC")[0]
    assert apic.mime == "image/png" and apic.type == 3 and apic.data == cover_png()
    toc = tags.getall("CTOC")[0]
    assert toc.child_element_ids == ["chp0", "chp1", "chp2"]
    assert toc.flags & 0x01 and toc.flags & 0x02  # ordered, top level
    chaps = sorted(tags.getall("CHAP"), key=lambda c: c.start_time)
    assert [c.sub_frames["TIT2"].text[0] for c in chaps] == ["Intro", "Story one", "Outro"]
    assert [c.start_time for c in chaps] == [round(s * 1000) for s in (s0, s1, s2)]
    assert chaps[-1].end_time == round(e2 * 1000)
    assert chaps[1].sub_frames["WOAS"].url == "https://news.example.org/1"
    probe = mp3.probe(data)
    assert probe.duration == pytest.approx(joined.duration, abs=0.001)
    assert probe.bytes == len(data)


def test_espeak_is_reusable_and_thread_safe() -> None:
    from concurrent.futures import ThreadPoolExecutor

    texts = ["One.", "Два.", "Three, four.", "П'ять."]

    def seconds(data: bytes) -> float:
        return len(data) / 2 / espeak.sample_rate()

    with ThreadPoolExecutor(4) as pool:
        results = list(
            pool.map(lambda t: espeak.synthesize_pcm(t, "uk" if t[0] in "ДП" else "en"), texts)
        )
    again = espeak.synthesize_pcm("One.")
    # espeak-ng varies a few samples between runs; no other state may leak between calls
    assert seconds(again) == pytest.approx(seconds(results[0]), abs=0.06)
    for data in results:
        assert seconds(data) > 0.2
    assert espeak.voice_for("uk") == "uk" and espeak.voice_for("en-GB") == "en-us"


def test_chapter_frames_are_written_in_time_order_whatever_their_sizes() -> None:
    joined = mp3.join([tone_mp3(f"Part {i}.") for i in range(12)])
    # mutagen sorts frames by size when saving: long and short titles would come out shuffled
    titles = [("x" * (40 - 3 * i)) if i % 2 else f"Story {i}" for i in range(12)]
    chapters = [
        mp3.Chapter(title, start, end)
        for title, (start, end) in zip(titles, joined.boundaries, strict=True)
    ]
    data = mp3.tag(joined.data, mp3.Tags("T", "A", "B", cover_png=cover_png(), chapters=chapters))
    tags = ID3(io.BytesIO(data))
    in_file = [c.sub_frames["TIT2"].text[0] for c in tags.getall("CHAP")]
    assert in_file == titles
    ids = list(tags.keys())
    assert ids.index("CTOC:toc") < min(ids.index(f"CHAP:chp{i}") for i in range(12))
    assert mp3.probe(data).duration == pytest.approx(joined.duration, abs=0.001)
    assert mp3.chapters_in_order(b"not a tag") == b"not a tag"
