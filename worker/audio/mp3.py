"""MP3 at frame level: join chunks exactly, write one correct Info/Xing header, tag with mutagen.

Why frame level: gTTS answers every 100-character chunk with a complete MP3 (often with its own
ID3 and Xing/Info header). Concatenating the bytes leaves those headers in the middle of the
stream, and players then report the length of the first chunk and seek wrongly. Here every chunk
is parsed into MPEG audio frames, headers and stray tags are dropped, and the joined stream gets
one Info (CBR) or Xing (VBR, with a seek TOC) frame describing the whole file, so duration and
seeking are exact.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import mutagen.id3
import mutagen.mp3

# mutagen ships without type hints; reach it through Any-typed names so mypy --strict is happy
_id3: Any = mutagen.id3
_mp3: Any = mutagen.mp3

# bitrates (kbit/s) by [mpeg1?][index] for Layer III
_BITRATES = {
    True: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    False: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_SAMPLE_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


class MP3Error(ValueError):
    pass


@dataclass(frozen=True)
class FrameHeader:
    version: int  # 3 = MPEG-1, 2 = MPEG-2, 0 = MPEG-2.5
    bitrate_index: int
    sample_rate: int
    padding: int
    channel_mode: int  # 3 = mono
    raw: bytes

    @property
    def mpeg1(self) -> bool:
        return self.version == 3

    @property
    def samples(self) -> int:
        return 1152 if self.mpeg1 else 576

    @property
    def length(self) -> int:
        kbps = _BITRATES[self.mpeg1][self.bitrate_index]
        return (144 if self.mpeg1 else 72) * kbps * 1000 // self.sample_rate + self.padding

    @property
    def side_info(self) -> int:
        mono = self.channel_mode == 3
        if self.mpeg1:
            return 17 if mono else 32
        return 9 if mono else 17

    @property
    def stream_kind(self) -> tuple[int, int, int]:
        """What must match between chunks for a valid join."""
        return (self.version, self.sample_rate, 1 if self.channel_mode == 3 else 2)


def parse_header(data: bytes | memoryview, pos: int) -> FrameHeader | None:
    if pos + 4 > len(data):
        return None
    b0, b1, b2, b3 = data[pos], data[pos + 1], data[pos + 2], data[pos + 3]
    if b0 != 0xFF or (b1 & 0xE0) != 0xE0:
        return None
    version = (b1 >> 3) & 3
    layer = (b1 >> 1) & 3
    bitrate_index = b2 >> 4
    rate_index = (b2 >> 2) & 3
    if version == 1 or layer != 1 or bitrate_index in (0, 15) or rate_index == 3:
        return None  # reserved values, free format, or not Layer III
    return FrameHeader(
        version=version,
        bitrate_index=bitrate_index,
        sample_rate=_SAMPLE_RATES[version][rate_index],
        padding=(b2 >> 1) & 1,
        channel_mode=b3 >> 6,
        raw=bytes(data[pos : pos + 4]),
    )


def strip_tags(data: bytes) -> bytes:
    """Drop a leading ID3v2 tag (with footer) and a trailing ID3v1 tag."""
    while data[:3] == b"ID3" and len(data) >= 10:
        size = 0
        for byte in data[6:10]:
            size = (size << 7) | (byte & 0x7F)
        footer = 10 if data[5] & 0x10 else 0
        data = data[10 + size + footer :]
    if len(data) >= 128 and data[-128:-125] == b"TAG":
        data = data[:-128]
    return data


def _is_info_frame(frame: bytes, header: FrameHeader) -> bool:
    offset = 4 + header.side_info
    return frame[offset : offset + 4] in (b"Xing", b"Info") or frame[36:40] == b"VBRI"


def frames(data: bytes) -> Iterator[tuple[FrameHeader, bytes]]:
    """The audio frames of one MP3, skipping tags, Xing/Info/VBRI frames and junk between frames."""
    data = strip_tags(data)
    pos, first = 0, True
    synced: tuple[int, int, int] | None = None  # the stream we are locked onto
    view = memoryview(data)
    while pos + 4 <= len(data):
        header = parse_header(view, pos)
        if header is None:
            synced = None
            pos += 1  # resync: junk or a stray tag between frames
            continue
        end = pos + header.length
        if end > len(data):
            break  # truncated last frame: drop it rather than emit a broken one
        if synced != header.stream_kind:
            # not locked on: a sync word inside junk is only believed when a frame follows it
            following = parse_header(view, end) if end + 4 <= len(data) else header
            if following is None and data[end : end + 3] not in (b"TAG", b"ID3", b""):
                pos += 1
                continue
            synced = header.stream_kind
        frame = data[pos:end]
        if not (first and _is_info_frame(frame, header)):
            yield header, frame
        first = False
        pos = end


@dataclass(frozen=True)
class Joined:
    """An MP3 stream without tags, and where each input chunk starts and ends (seconds)."""

    data: bytes
    duration: float
    boundaries: list[tuple[float, float]]
    frame_count: int


def join(chunks: Sequence[bytes]) -> Joined:
    """Join MP3s frame by frame; all chunks must share MPEG version, sample rate and channels."""
    out: list[bytes] = []
    kind: tuple[int, int, int] | None = None
    first_header: FrameHeader | None = None
    samples = 0
    count = 0
    rate = 0
    boundaries: list[tuple[float, float]] = []
    offsets: list[int] = []  # byte offset of each frame, for the seek table
    size = 0
    for chunk in chunks:
        start = samples
        for header, frame in frames(chunk):
            if kind is None:
                kind, first_header, rate = header.stream_kind, header, header.sample_rate
            elif header.stream_kind != kind:
                raise MP3Error(f"cannot join {header.stream_kind} frames into a {kind} stream")
            out.append(frame)
            offsets.append(size)
            size += len(frame)
            samples += header.samples
            count += 1
        boundaries.append((start / rate if rate else 0.0, samples / rate if rate else 0.0))
    if first_header is None or count == 0:
        raise MP3Error("no MPEG audio frames found")
    body = b"".join(out)
    info = _info_frame(first_header, count, offsets, size, out)
    return Joined(
        data=info + body,
        duration=samples / rate,
        boundaries=boundaries,
        frame_count=count,
    )


def _info_frame(
    template: FrameHeader, count: int, offsets: list[int], size: int, out: list[bytes]
) -> bytes:
    """A Xing (VBR, with TOC) or Info (CBR) frame describing `count` frames of `size` bytes."""
    cbr = len({frame[2] >> 4 for frame in out}) == 1
    # the header frame needs room for side info + tag + flags + frames + bytes + 100-byte TOC
    need = 4 + template.side_info + 16 + 100
    for index in range(1, 15):
        candidate = FrameHeader(
            template.version,
            index,
            template.sample_rate,
            0,
            template.channel_mode,
            template.raw,
        )
        if candidate.length >= need:
            break
    else:  # pragma: no cover - every MPEG version has a bitrate large enough
        raise MP3Error("no bitrate gives room for an Info frame")
    b1 = template.raw[1] | 0x01  # no CRC
    b2 = (index << 4) | (template.raw[2] & 0x0C)  # keep the sample rate, no padding
    header = bytes([0xFF, b1, b2, template.raw[3]])
    total = size + candidate.length
    toc = bytearray(100)
    for i in range(100):
        target = i * count // 100
        toc[i] = min(255, (candidate.length + offsets[target]) * 256 // total)
    payload = (b"Info" if cbr else b"Xing") + struct.pack(">III", 0x7, count, total) + bytes(toc)
    frame = header + bytes(candidate.side_info) + payload
    return frame + bytes(candidate.length - len(frame))


def duration_of(data: bytes) -> float:
    """Exact duration by counting frames (what mutagen reports via our Info header)."""
    samples = 0
    rate = 0
    for header, _ in frames(data):
        samples += header.samples
        rate = header.sample_rate
    return samples / rate if rate else 0.0


@dataclass(frozen=True)
class Chapter:
    title: str
    start: float
    end: float
    url: str | None = None


@dataclass(frozen=True)
class Tags:
    title: str
    artist: str
    album: str
    language: str | None = None
    url: str | None = None
    cover_png: bytes | None = None
    chapters: Sequence[Chapter] = ()


def tag(data: bytes, tags: Tags) -> bytes:
    """`data` (untagged MP3) with an ID3v2.3 tag in front: text frames, cover, URL, chapters."""
    id3 = _id3.ID3()
    id3.add(_id3.TIT2(encoding=3, text=tags.title))
    id3.add(_id3.TPE1(encoding=3, text=tags.artist))
    id3.add(_id3.TALB(encoding=3, text=tags.album))
    if tags.language:
        id3.add(_id3.TLAN(encoding=3, text=_iso639_2(tags.language)))
    if tags.url:
        id3.add(_id3.WOAS(url=tags.url))
    if tags.cover_png:
        id3.add(_id3.APIC(encoding=3, mime="image/png", type=3, desc="Cover", data=tags.cover_png))
    if tags.chapters:
        ids = [f"chp{i}" for i in range(len(tags.chapters))]
        id3.add(
            _id3.CTOC(
                element_id="toc",
                flags=_id3.CTOCFlags.TOP_LEVEL | _id3.CTOCFlags.ORDERED,
                child_element_ids=ids,
                sub_frames=[_id3.TIT2(encoding=3, text=tags.title)],
            )
        )
        for element_id, chapter in zip(ids, tags.chapters, strict=True):
            sub: list[Any] = [_id3.TIT2(encoding=3, text=chapter.title)]
            if chapter.url:
                sub.append(_id3.WOAS(url=chapter.url))
            id3.add(
                _id3.CHAP(
                    element_id=element_id,
                    start_time=round(chapter.start * 1000),
                    end_time=round(chapter.end * 1000),
                    start_offset=0xFFFFFFFF,  # "use times", per the chapter addendum
                    end_offset=0xFFFFFFFF,
                    sub_frames=sub,
                )
            )
    buffer = io.BytesIO(data)
    id3.save(buffer, v2_version=3, padding=lambda info: 0)
    return chapters_in_order(buffer.getvalue())


def chapters_in_order(data: bytes) -> bytes:
    """The ID3v2.3 tag at the start of `data` with its CTOC, then its CHAP frames in time order.

    mutagen sorts frames by size when it saves, so chapters come out in an order that depends on
    their titles; ffmpeg (and so every tool built on it) lists chapters in file order.
    """
    if data[:3] != b"ID3" or data[3] != 3 or data[5] & 0x80:  # v2.3, no unsynchronisation
        return data
    size = 0
    for byte in data[6:10]:
        size = (size << 7) | (byte & 0x7F)
    end = 10 + size
    frames: list[tuple[bytes, bytes]] = []
    pos = 10
    while pos + 10 <= end and data[pos : pos + 4] != b"\0\0\0\0":
        length = int.from_bytes(data[pos + 4 : pos + 8], "big")
        frames.append((data[pos : pos + 4], data[pos : pos + 10 + length]))
        pos += 10 + length
    rest = data[pos:end]  # padding
    chaps = [raw for frame_id, raw in frames if frame_id == b"CHAP"]
    if not chaps:
        return data

    def start_time(raw: bytes) -> int:
        body = raw[10:]
        element_end = body.index(b"\0") + 1
        return int.from_bytes(body[element_end : element_end + 4], "big")

    others = [raw for frame_id, raw in frames if frame_id not in (b"CHAP", b"CTOC")]
    tocs = [raw for frame_id, raw in frames if frame_id == b"CTOC"]
    ordered = [*others, *tocs, *sorted(chaps, key=start_time)]
    return data[:10] + b"".join(ordered) + rest + data[end:]


def _iso639_2(language: str) -> str:
    return {"en": "eng", "uk": "ukr"}.get(language.split("-")[0].lower(), "und")


@dataclass(frozen=True)
class Probe:
    duration: float
    bytes: int
    sample_rate: int
    bitrate: int


def probe(data: bytes) -> Probe:
    """What mutagen (and so podcast apps) will read from the finished file."""
    info = _mp3.MP3(io.BytesIO(data)).info
    return Probe(
        duration=float(info.length),
        bytes=len(data),
        sample_rate=int(info.sample_rate),
        bitrate=int(info.bitrate),
    )
