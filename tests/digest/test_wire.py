"""Quoted-printable body pieces, and pieces clean enough for SMTP DATA as they are."""

from __future__ import annotations

import pytest

from worker.digest.wire import clean_piece, qp_segment


@pytest.mark.parametrize(
    "text",
    ["", "plain ascii", "x" * 300, "tab\tand space at end \nnext", "Київ = «столиця» " * 20,
     "line\r\nwith crlf\rand cr", "=3D already encoded?"],
)  # fmt: skip
def test_qp_segment_round_trips(text: str) -> None:
    import quopri

    encoded = qp_segment(text)
    assert all(len(line) <= 76 for line in encoded.split(b"\r\n"))
    expected = text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n")
    assert quopri.decodestring(encoded).decode("utf-8") == expected


def test_qp_segments_are_7bit_and_crlf_but_a_leading_dot_stays() -> None:
    for text in ("plain", "Київ = «столиця»\nnext line", "x" * 300):
        assert clean_piece(qp_segment(text))
    # QP leaves a line-leading dot literal: such a piece is dot-stuffed when sent, hence the check
    assert not clean_piece(qp_segment("first\n.second"))
    assert not clean_piece(b".a") and not clean_piece(b"a\nb")
