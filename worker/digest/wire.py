"""Bytes for the wire: quoted-printable body pieces and the check that a piece can go into SMTP
DATA as it is (pure; worker/digest/message.py builds messages from these pieces).
"""

from __future__ import annotations

import re

CRLF = b"\r\n"
SOFT_BREAK = b"=\r\n"
QP_LINE = 76


# ---------------------------------------------------------------- quoted-printable
def _qp_table() -> list[bytes]:
    table = []
    for byte in range(256):
        literal = 33 <= byte <= 126 and byte != ord("=")
        table.append(bytes([byte]) if literal else b"=%02X" % byte)
    return table


_QP = _qp_table()
# printable ASCII without "=", not ending in a space: literal in quoted-printable
_QP_SAFE = re.compile(r"[ -<>-~]*[!-<>-~]")


def qp_segment(text: str) -> bytes:
    """Quoted-printable for a piece of a body; hard line breaks become CRLF; ends at column 0.

    Spaces and tabs are literal except before a line break (encoded there, RFC 2045 rule 3).
    """
    if _QP_SAFE.fullmatch(text):
        # fast path (per-recipient values: URLs, greetings): nothing to encode, only to wrap
        data = text.encode("ascii")
        width = QP_LINE - 1
        return SOFT_BREAK.join(data[i : i + width] for i in range(0, len(data), width)) + SOFT_BREAK
    out = bytearray()
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for index, text_line in enumerate(lines):
        data = text_line.encode("utf-8")
        column = 0
        last = len(data) - 1
        for pos, byte in enumerate(data):
            # spaces and tabs stay literal except at the end of a line
            token = bytes([byte]) if byte in (0x20, 0x09) and pos != last else _QP[byte]
            if column + len(token) > QP_LINE - 1:
                out += SOFT_BREAK
                column = 0
            out += token
            column += len(token)
        if index < len(lines) - 1:
            out += CRLF
        elif column:
            out += SOFT_BREAK  # the next segment starts on a fresh line
    return bytes(out)


# ---------------------------------------------------------------- SMTP DATA transparency
def clean_piece(piece: bytes) -> bool:
    """7-bit, CRLF line ends only, no line starting with a dot, not starting with a dot itself:
    bytes that go into SMTP DATA unchanged (RFC 5321 4.5.2: nothing to normalise or dot-stuff,
    no BODY=8BITMIME needed).

    A message made only of clean pieces is clean as a whole: a bare LF or a line-leading dot
    across a boundary would make the piece after it unclean.
    """
    return (
        piece.isascii()
        and piece[:1] != b"."
        and b"\n." not in piece
        and piece.count(b"\n") == piece.count(b"\r\n")  # so no LF leads the piece either
    )
