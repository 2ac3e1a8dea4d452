"""The "clean for DATA" flag (MessageTemplate.render through the Composer): when it lets the
transport skip its scan, the wire bytes are exactly what the full scan makes; anything it
cannot vouch for is scanned."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.delivery.helpers import add_subscribers, queue_rows, read_maildir, stage_digest
from tests.delivery.smtp_server import Recorder, Rules, Server
from worker import db
from worker.delivery import sender
from worker.delivery.compose import Composer, clean_piece
from worker.delivery.smtp import SmtpConfig, SmtpTransport, wire_bytes
from worker.digest.message import MessageTemplate, Recipient
from worker.settings import Settings

BASE = "https://daily.example.org/u/"


def _recipient(sid: int, name: str | None = "Reader", url: str | None = None) -> Recipient:
    return Recipient(
        subscriber_id=sid,
        email=f"reader{sid}@example.net",
        name=name,
        message_id=f"<digest-1.sub-{sid}@example.org>",
        unsubscribe_url=url or f"{BASE}tok{sid}",
    )


def _template(settings: Settings) -> object:
    with db.session_scope(settings) as session:
        digest_id = stage_digest(session, settings, kb=20)
    return sender.message_template(settings, digest_id)


def test_clean_piece() -> None:
    assert clean_piece(b"a\r\nb=\r\n")
    assert clean_piece(b"")
    assert not clean_piece(b".a")
    assert not clean_piece(b"a\r\n.b")
    assert not clean_piece(b"a\nb")
    assert not clean_piece(b"\nb")
    assert not clean_piece("Київ\r\n".encode())  # 8-bit: the envelope must say BODY=8BITMIME


def test_digest_messages_are_clean_and_identical_on_the_wire(settings: Settings) -> None:
    composer = Composer(_template(settings))
    for sid, name in [(1, "Olena Petrenko"), (22, None), (333, "Ім'я Прізвище"), (4444, "A")]:
        data, clean = composer.build(_recipient(sid, name))
        assert clean, sid
        assert wire_bytes(data, clean) == wire_bytes(data)


def test_a_value_with_a_line_leading_dot_is_scanned_and_stuffed(settings: Settings) -> None:
    # quoted-printable wraps at 76 columns: put a dot at the start of the URL's second line
    url = BASE + "a" * (75 - len(BASE)) + ".b.c"
    data, clean = Composer(_template(settings)).build(_recipient(7, url=url))
    assert b"=\r\n.b.c" in data
    assert not clean
    assert b"=\r\n..b.c" in wire_bytes(data, clean)


def test_a_template_with_a_dotted_line_is_always_scanned(settings: Settings) -> None:
    template = MessageTemplate(
        settings, subject="s", html="<p>x</p>\n.dot\n", text="@@DC_GREETING@@\n.dot\n"
    )
    composer = Composer(template)
    data, clean = composer.build(_recipient(5))
    assert not clean
    assert b"\r\n..dot" in wire_bytes(data, clean)


def test_render_and_personalize_agree(settings: Settings) -> None:
    template = _template(settings)
    assert isinstance(template, MessageTemplate)
    for audio in (True, False):
        recipient = dataclasses.replace(_recipient(12, "Olena Petrenko"), audio_links=audio)
        assert template.render(recipient)[0] == template.personalize(recipient)


def test_a_dkim_signed_message_stays_clean(settings: Settings, tmp_path: Path) -> None:
    """The signature header in front is checked on its own: signing keeps the fast path."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    (tmp_path / "dkim.pem").write_bytes(pem)
    signing = settings.model_copy(update={"dkim_private_key": tmp_path / "dkim.pem"})
    template = MessageTemplate(
        signing, subject="s", html="<p>@@DC_GREETING@@</p>\n", text="@@DC_GREETING@@\n"
    )
    data, clean = Composer(template).build(_recipient(11, "Olena"))
    assert data.startswith(b"DKIM-Signature: ")
    assert clean
    assert wire_bytes(data, clean) == wire_bytes(data)


@pytest.mark.parametrize("fail", [False, True])
def test_work_while_waiting_runs_once_per_message_and_never_loses_the_reply(fail: bool) -> None:
    calls: list[int] = []

    def work() -> None:
        calls.append(1)
        if fail:
            raise RuntimeError("caller bug")

    recorder = Recorder(Rules())
    with Server(recorder) as server:
        transport = SmtpTransport(SmtpConfig.from_url(server.url))
        results = [
            transport.send(
                "b@example.org",
                f"r{i}@example.net",
                b"Subject: x\r\n\r\nbody\r\n",
                clean=True,
                while_waiting=work,
            )
            for i in range(3)
        ]
        transport.close()
    assert [r.outcome for r in results] == ["sent"] * 3
    assert len(calls) == 3
    assert [rcpt for rcpt, _ in recorder.messages] == [f"r{i}@example.net" for i in range(3)]


def test_batch_sends_every_claimed_row_once_with_messages_built_ahead(settings: Settings) -> None:
    with db.session_scope(settings) as session:
        digest_id = stage_digest(session, settings)
        add_subscribers(session, 7)
        ids = [i for batch in queue_rows(session, settings, digest_id, 50) for i in batch]
    result = sender.send_batch(settings, digest_id, ids)
    assert result["sent"] == 7
    assert sorted(str(m["To"]) for m in read_maildir(settings.outbox_dir)) == [
        f"Reader {i} <reader{i:06d}@example.net>" for i in range(7)
    ]
