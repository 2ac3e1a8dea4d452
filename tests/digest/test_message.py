"""The MIME message: headers, DKIM, and per-recipient bytes that differ only where they should."""

from __future__ import annotations

import base64
import email
import re
from email import policy
from email.message import EmailMessage
from pathlib import Path

import dkim
import pytest
from sqlalchemy.orm import Session

from tests.conftest import make_settings
from tests.digest.conftest import DAY, Factory, sample_day
from worker.digest.build import build_digest
from worker.digest.message import (
    MessageError,
    MessageTemplate,
    Recipient,
    build_message_template,
)
from worker.settings import Settings
from worker.storage import LocalStorage
from worker.tokens import read_unsubscribe_token, unsubscribe_url

NONCE = "row-nonce-1234"  # a subscriber row's token_nonce


def recipient(settings: Settings, sid: int, name: str | None, addr: str) -> Recipient:
    return Recipient(
        subscriber_id=sid,
        email=addr,
        name=name,
        message_id=f"<digest-1.sub-{sid}@daily.example.org>",
        unsubscribe_url=unsubscribe_url(settings, sid, NONCE),
    )


def parse(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


@pytest.fixture
def template(
    session: Session, settings: Settings, storage: LocalStorage, factory: Factory
) -> MessageTemplate:
    sample_day(factory)
    digest = build_digest(session, settings, storage, DAY)
    return build_message_template(session, settings, storage, digest.id)


def test_headers(template: MessageTemplate, settings: Settings) -> None:
    r = recipient(settings, 7, "Олена Шевчук", "olena@example.com")
    raw = template.personalize(r)
    msg = parse(raw)
    assert msg["To"].addresses[0].addr_spec == "olena@example.com"
    assert msg["To"].addresses[0].display_name == "Олена Шевчук"
    assert msg["From"] == "Ukraine Daily <daily@example.org>"
    assert msg["Subject"] == "Inside the night shift in Kharkiv"
    assert msg["Message-ID"] == "<digest-1.sub-7@daily.example.org>"
    assert msg["Date"].datetime is not None
    assert msg["List-Id"] == "Ukraine Daily <ukraine-daily.example.org>"
    assert msg["Precedence"] == "bulk"
    assert msg["Feedback-ID"] == "digest-2026-11-27:ukraine-daily-example-org:digestcast"
    assert msg["MIME-Version"] == "1.0"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # no inbox configured: the one-click URL only, no mailto that nobody would read
    (https,) = re.findall(r"<([^>]+)>", str(msg["List-Unsubscribe"]))
    assert https == unsubscribe_url(settings, 7, NONCE)
    token = https.rsplit("/", 1)[1]
    assert read_unsubscribe_token(settings, token).subscriber_id == 7
    assert msg.get_content_type() == "multipart/alternative"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert all(p["Content-Transfer-Encoding"] == "quoted-printable" for p in parts)
    assert all(p.get_content_charset() == "utf-8" for p in parts)
    text = parts[0].get_content()
    html = parts[1].get_content()
    assert "Good morning, Олена." in text and "Good morning, Олена." in html
    assert f"Unsubscribe: {https}" in text
    assert f'href="{https}"' in html
    assert f"https://daily.example.org/preferences/{token}" in html
    assert "@@" not in text and "@@" not in html
    # RFC 5322 / 2045 line limits on the wire
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    body = raw.split(b"\r\n\r\n", 1)[1]
    assert max(len(line) for line in body.split(b"\r\n")) <= 76


def test_two_recipients_differ_only_in_their_own_parts(
    template: MessageTemplate, settings: Settings
) -> None:
    a = recipient(settings, 1, "Anna", "anna@example.com")
    b = recipient(settings, 2, None, "bohdan@example.net")
    ma, mb = parse(template.personalize(a)), parse(template.personalize(b))
    assert ma["List-Unsubscribe"] != mb["List-Unsubscribe"]

    def neutral(msg: EmailMessage, r: Recipient) -> list[str]:
        token = r.unsubscribe_url.rsplit("/", 1)[1]
        out = []
        for part in msg.iter_parts():
            content = part.get_content()
            assert isinstance(content, str)
            assert r.unsubscribe_url in content
            assert content.count(token) == 2  # the unsubscribe and the preferences links
            content = content.replace(token, "TOKEN")
            content = re.sub(r"Good morning(, [^.<]+)?\.", "GREETING", content)
            out.append(content)
        for header in ("From", "Subject", "List-Id", "Precedence", "Content-Type"):
            out.append(str(msg[header]))
        return out

    assert neutral(ma, a) == neutral(mb, b)
    assert "Good morning, Anna." in ma.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Good morning." in mb.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "anna@example.com" not in template.personalize(b).decode()


def test_recipient_values_cannot_inject_headers(
    template: MessageTemplate, settings: Settings
) -> None:
    evil = recipient(settings, 3, "Eve\r\nBcc: all@example.com", "eve@example.com")
    msg = parse(template.personalize(evil))
    assert msg["Bcc"] is None
    assert msg["To"].addresses[0].display_name == "Eve Bcc: all@example.com"
    for bad in (
        recipient(settings, 4, None, "x@example.com\r\nBcc: y@example.com"),
        recipient(settings, 4, None, "no-at-sign"),
        Recipient(4, "x@example.com", None, "<a@b>\r\nX: y", unsubscribe_url(settings, 4, NONCE)),
        Recipient(4, "x@example.com", None, "<a@b>", "javascript:alert(1)"),
        Recipient(4, "x@example.com", None, "<a@b>", "https://x/u/t>\r\nBcc: z@example.com"),
    ):
        with pytest.raises(MessageError):
            template.personalize(bad)


def test_subject_never_carries_a_line_break(
    session: Session, settings: Settings, storage: LocalStorage, factory: Factory
) -> None:
    from tests.digest.conftest import kyiv

    factory.article("Headline\r\nBcc: everyone@example.com", kyiv(DAY, 6), words=3000)
    digest = build_digest(session, settings, storage, DAY)
    assert "\n" not in digest.subject and "\r" not in digest.subject
    msg = parse(
        build_message_template(session, settings, storage, digest.id).personalize(
            recipient(settings, 1, None, "a@example.com")
        )
    )
    assert msg["Subject"] == "Headline Bcc: everyone@example.com"
    assert msg["Bcc"] is None


def _rsa_key() -> tuple[bytes, bytes]:
    rsa = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.rsa")
    serialization = pytest.importorskip("cryptography.hazmat.primitives.serialization")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


def test_dkim_signature_verifies_and_covers_list_unsubscribe(
    session: Session, tmp_path: Path, factory: Factory
) -> None:
    private, public = _rsa_key()
    key_path = tmp_path / "dkim.pem"
    key_path.write_bytes(private)
    s = make_settings(
        tmp_path,
        dkim_private_key=key_path,
        dkim_selector="dc2026",
        reply_to="Newsroom desk <desk@example.org>",
    )
    storage = LocalStorage(s.data_dir)
    sample_day(factory)
    # a long non-ASCII subject: encoded words folded over several header lines
    from tests.digest.conftest import kyiv

    lead = "Як у Чернігові відновлюють бібліотеку, зруйновану у 2022 році, і що буде далі"
    factory.article(lead, kyiv(DAY, 5), words=5000)
    digest = build_digest(session, s, storage, DAY)
    raw = build_message_template(session, s, storage, digest.id).personalize(
        recipient(s, 9, "Anna", "anna@example.com")
    )
    # same tmp_path, so these settings share the session's database
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)
    asked: list[bytes] = []

    def dns(name: bytes, timeout: int = 5) -> bytes | None:
        asked.append(name)
        return record if name == b"dc2026._domainkey.example.org." else None

    assert dkim.verify(raw, dnsfunc=dns)
    assert (
        parse(raw)["Subject"] == lead
        and parse(raw)["Reply-To"] == "Newsroom desk <desk@example.org>"
    )
    assert asked == [b"dc2026._domainkey.example.org."]
    msg = parse(raw)
    tags = dict(
        t.strip().split("=", 1) for t in re.sub(r"\s+", "", str(msg["DKIM-Signature"])).split(";")
        if t.strip()
    )  # fmt: skip
    signed = {h.lower() for h in tags["h"].split(":")}
    assert {"from", "to", "subject", "date", "message-id", "list-unsubscribe",
            "list-unsubscribe-post", "list-id", "feedback-id"} <= signed  # fmt: skip
    assert tags["d"] == "example.org" and tags["s"] == "dc2026"
    assert tags["a"] == "rsa-sha256" and tags["c"] == "relaxed/simple"
    # tampering with the one-click header breaks the signature
    tampered = raw.replace(b"List-Unsubscribe=One-Click", b"List-Unsubscribe=Two-Click")
    assert not dkim.verify(tampered, dnsfunc=dns)


def test_readers_without_audio_links_get_the_edition_without_them(
    template: MessageTemplate, settings: Settings
) -> None:
    with_audio = recipient(settings, 1, "Anna", "anna@example.com")
    without = Recipient(**{**with_audio.__dict__, "audio_links": False})
    for r, expected in ((with_audio, True), (without, False)):
        msg = parse(template.personalize(r))
        for part in msg.iter_parts():
            content = part.get_content()
            assert ("/listen/" in content) is expected
            assert ("Listen, " in content) is expected
            assert "Inside the night shift in Kharkiv" in content
            assert r.unsubscribe_url in content
