"""worker/digest/dkimsign.py: signatures that dkimpy verifies, on awkward messages too."""

from __future__ import annotations

import base64
import re
from functools import lru_cache

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from worker.digest.dkimsign import DkimSigner

HEADERS = [b"From", b"To", b"Subject", b"Date", b"Message-ID", b"List-Unsubscribe"]


@lru_cache(maxsize=1)
def _key() -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


def _dns(name: bytes, timeout: int = 5) -> bytes | None:
    if name != b"sel._domainkey.example.org.":
        return None
    return b"v=DKIM1; k=rsa; p=" + base64.b64encode(_key()[1])


def _signed(message: bytes, headers: list[bytes] = HEADERS) -> bytes:
    return DkimSigner("sel", "example.org", _key()[0], headers).sign(message) + message


MESSAGE = (
    b"From: News <news@example.org>\r\n"
    b"To: reader@example.net\r\n"
    b"Subject: =?utf-8?b?0J/RgNC40LLRltGC?=\r\n =?utf-8?b?0J/RgNC40LLRltGC?=\r\n"
    b"Date: Fri, 27 Nov 2026 06:00:00 +0000\r\n"
    b"Message-ID: <1@example.org>\r\n"
    b"List-Unsubscribe:   <https://example.org/u/1>\r\n"
    b"\r\n"
    b"Hello,\r\n\r\nthe news.\r\n"
)


def test_signature_verifies_with_folded_header_and_tags_are_ours() -> None:
    raw = _signed(MESSAGE)
    assert dkim.verify(raw, dnsfunc=_dns)
    header = raw.split(b"\r\n\r\n", 1)[0].decode()
    tags = dict(
        t.split("=", 1)
        for t in re.sub(
            r"\s+", "", header.split("DKIM-Signature:", 1)[1].split("\r\nFrom:")[0]
        ).split(";")
        if t
    )
    assert (tags["a"], tags["c"], tags["d"], tags["s"]) == (
        "rsa-sha256",
        "relaxed/simple",
        "example.org",
        "sel",
    )
    assert tags["h"] == "from:to:subject:date:message-id:list-unsubscribe"


@pytest.mark.parametrize(
    "tamper",
    [
        (b"the news.", b"the NEWS."),
        (b"<https://example.org/u/1>", b"<https://evil.example/u/1>"),
        (b"To: reader@example.net", b"To: other@example.net"),
    ],
)
def test_changing_body_or_a_signed_header_breaks_it(tamper: tuple[bytes, bytes]) -> None:
    raw = _signed(MESSAGE)
    assert not dkim.verify(raw.replace(*tamper), dnsfunc=_dns)


def test_relaxed_headers_survive_whitespace_and_case_changes_in_transit() -> None:
    raw = _signed(MESSAGE).replace(b"List-Unsubscribe:   <", b"list-unsubscribe: <")
    assert dkim.verify(raw, dnsfunc=_dns)


def test_body_with_trailing_empty_lines_or_no_final_crlf() -> None:
    head = MESSAGE.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
    for body in (b"text\r\n\r\n\r\n", b"text", b""):
        assert dkim.verify(_signed(head + body), dnsfunc=_dns), body


def test_missing_header_signs_its_absence_and_adding_it_breaks_it() -> None:
    raw = _signed(MESSAGE, [*HEADERS, b"Reply-To"])
    assert dkim.verify(raw, dnsfunc=_dns)
    with_reply_to = raw.replace(b"\r\n\r\nHello", b"\r\nReply-To: x@evil.example\r\n\r\nHello")
    assert not dkim.verify(with_reply_to, dnsfunc=_dns)


def test_a_repeated_header_signs_its_last_instance() -> None:
    message = MESSAGE.replace(b"To: reader", b"Comments: first\r\nComments: second\r\nTo: reader")
    raw = _signed(message, [*HEADERS, b"Comments"])
    assert dkim.verify(raw, dnsfunc=_dns)
    assert not dkim.verify(raw.replace(b"Comments: second", b"Comments: changed"), dnsfunc=_dns)
    # the first instance is not signed: a relay may rewrite it
    assert dkim.verify(raw.replace(b"Comments: first", b"Comments: other"), dnsfunc=_dns)
