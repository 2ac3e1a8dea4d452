"""The podcast cover: a 1400x1400 PNG (Apple's minimum), drawn by a tiny pure-Python PNG writer.

Shipped as `templates/podcast-cover.png`; `make_cover()` regenerates it (no Pillow needed).
Blue over yellow with a white sound-wave: recognisable at thumbnail size, a few KB on disk.
"""

from __future__ import annotations

import math
import struct
import zlib
from functools import lru_cache

from worker.paths import templates_dir

SIZE = 1400
_PALETTE = bytes([0x00, 0x57, 0xB7, 0xFF, 0xD7, 0x00, 0xFF, 0xFF, 0xFF])  # blue, yellow, white


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def make_cover(size: int = SIZE) -> bytes:
    bars = 23
    bar_width = size // (bars * 2 + 1)
    heights = [
        int(size * 0.06 + size * 0.28 * abs(math.sin(i * 0.55)) * (1 - abs(i - bars // 2) / bars))
        for i in range(bars)
    ]
    rows = []
    middle = size // 2
    for y in range(size):
        base = 0 if y < middle else 1
        row = bytearray([base]) * size
        for i, height in enumerate(heights):
            if abs(y - middle) <= height:
                x0 = bar_width * (2 * i + 1)
                row[x0 : x0 + bar_width] = b"\x02" * bar_width
        rows.append(b"\x00" + bytes(row))  # filter type 0 per row
    header = struct.pack(">IIBBBBB", size, size, 8, 3, 0, 0, 0)  # 8-bit palette
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"PLTE", _PALETTE)
        + _chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
        + _chunk(b"IEND", b"")
    )


@lru_cache(maxsize=1)
def cover_png() -> bytes:
    path = templates_dir() / "podcast-cover.png"
    return path.read_bytes() if path.is_file() else make_cover()


if __name__ == "__main__":  # regenerate the shipped file
    (templates_dir() / "podcast-cover.png").write_bytes(make_cover())
