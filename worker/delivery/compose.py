"""Building one recipient's message and knowing, cheaply, that it needs no dot-stuffing.

`transport.wire_bytes` scans the whole ~60 KB message three times to decide whether line ends
must be normalised or dots stuffed: measured 135 us a message here, the largest piece of a
worker's CPU per message. Yet all but a few hundred bytes of every message are the digest
template's literal segments, the same for every recipient. So the literal segments are checked
once per template and only the per-recipient values are checked per message; a message made
only of clean pieces is clean as a whole (a bare LF or a line-leading dot across a boundary
would make the piece after it unclean), so the transport may skip its scan and put exactly the
bytes `wire_bytes` would have produced on the wire.

`MessageTemplate.personalize` stays the authority for the bytes: its result is compared with
the join of the checked pieces. A header it puts in front (a DKIM signature) is checked on its
own; anything else (a template without inspectable segments, a different body) just means the
transport does its full scan as before. The recipient's values are computed once and handed to
`personalize` (computing them twice measured 15 us a message).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def clean_piece(piece: bytes) -> bool:
    """CRLF line ends only, no line starting with a dot, not starting with a dot itself."""
    return (
        piece[:1] != b"."
        and b"\n." not in piece
        and piece.count(b"\n") == piece.count(b"\r\n")  # so no LF leads the piece either
    )


class Composer:
    """A digest template's messages, each with a flag: True when already safe for DATA."""

    def __init__(self, template: Any) -> None:
        self.template = template
        self.lists: tuple[Sequence[bytes | str], ...] = ()
        segments = getattr(template, "segments", None)
        no_audio = getattr(template, "segments_no_audio", segments)
        if callable(getattr(template, "values", None)) and segments and no_audio:
            lists = (segments, no_audio)
            literals = [seg for chosen in lists for seg in chosen if isinstance(seg, bytes)]
            if all(clean_piece(seg) for seg in literals):
                self.lists = lists

    def build(self, recipient: Any) -> tuple[bytes, bool]:
        if not self.lists:
            return self.template.personalize(recipient), False
        values: Mapping[str, bytes] = self.template.values(recipient)
        data: bytes = self.template.personalize(recipient, values)
        segments = self.lists[0] if getattr(recipient, "audio_links", True) else self.lists[1]
        pieces = []
        for seg in segments:
            if isinstance(seg, bytes):
                pieces.append(seg)
                continue
            value = values.get(seg)
            if value is None or not clean_piece(value):
                return data, False
            pieces.append(value)
        body = b"".join(pieces)
        if len(data) == len(body):
            return data, data == body
        # a header in front (DKIM-Signature): clean if it is clean itself and ends its line
        head = len(data) - len(body)
        return data, (
            head > 0
            and data.endswith(body)
            and data[head - 2 : head] == b"\r\n"
            and clean_piece(data[:head])
        )
