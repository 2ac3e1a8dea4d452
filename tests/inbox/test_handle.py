"""Sorting and acting on what reaches the mailbox: complaints, bounces, unsubscribe requests
(the List-Unsubscribe mailto), other mail; read from a Maildir, an mbox or a file, and through
`digestcast inbox import`."""

from __future__ import annotations

import base64
import mailbox
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from tests.delivery.helpers import email_of, sent_rows, token_of
from tests.delivery.test_bounces import cli_env, qmail_bounce, report
from tests.delivery.test_complaints import B1, about
from worker import db
from worker.delivery import returned
from worker.digest.message import template_from_storage
from worker.inbox import handle, mailboxes
from worker.inbox import intake as inbox
from worker.inbox.sort import kind, unsubscribe_token
from worker.models import Delivery, Digest, Subscriber, SubscriberState, Suppression
from worker.settings import Settings
from worker.storage import get_storage
from worker.tokens import new_nonce
from worker.tokens import unsubscribe_token as make_token

REPO = Path(__file__).resolve().parents[2]


def mailto_request(token: str, sender: str = "reader000001@example.net") -> bytes:
    """What a mail client sends for `mailto:...?subject=unsubscribe-TOKEN` (RFC 2369)."""
    return (
        f"From: {sender}\r\nTo: unsubscribe@example.org\r\nSubject: unsubscribe-{token}\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n"
        "This message will unsubscribe you.\r\n"
    ).encode()


@pytest.fixture
def sent(settings: Settings) -> tuple[Settings, list[Delivery]]:
    s = settings.model_copy(update={"unsubscribe_mailto": "unsubscribe@example.org"})
    return s, sent_rows(s, 4)[1]


def test_sorting(sent: tuple[Settings, list[Delivery]]) -> None:
    settings, rows = sent
    address = email_of(settings, rows[0].subscriber_id)
    token = token_of(settings, rows[0].subscriber_id)
    assert kind(returned.parse(about(B1, rows[0].message_id))) == "complaint"
    assert kind(returned.parse(report(rows[0].message_id, address))) == "bounce"
    assert kind(returned.parse(qmail_bounce(address, "bounces@example.org"))) == "bounce"
    assert kind(returned.parse(mailto_request(token))) == "unsubscribe"
    assert unsubscribe_token(returned.parse(mailto_request(token))) == token
    word = base64.b64encode(f"unsubscribe-{token}".encode()).decode()
    encoded = f"Subject: =?utf-8?b?{word}?=\r\n\r\n".encode()  # as some clients encode it
    assert unsubscribe_token(returned.parse(encoded)) == token
    for other in (
        b"Subject: Re: Ukraine Daily\r\n\r\nThanks for the story about Kharkiv!\r\n",
        b"Subject: Out of office\r\nAuto-Submitted: auto-replied\r\n\r\nBack on Monday.\r\n",
        b"Subject: unsubscribe\r\n\r\nplease remove me\r\n",  # no token: nothing to verify
    ):
        assert kind(returned.parse(other)) == "other"


def test_a_mailto_request_unsubscribes_the_tokens_subscriber_once(
    sent: tuple[Settings, list[Delivery]],
) -> None:
    settings, rows = sent
    token = token_of(settings, rows[1].subscriber_id)
    first = handle.handle(settings, mailto_request(token))
    assert (first.kind, first.outcomes, first.done) == ("unsubscribe", ("unsubscribed",), True)
    assert handle.handle(settings, mailto_request(token)).outcomes == ("already",)
    forged = handle.handle(settings, mailto_request(token[:-4] + "AAAA"))
    assert forged.outcomes == ("invalid_token",) and "does not verify" in (forged.problem or "")
    other = make_token(
        settings.model_copy(update={"secret_key": SecretStr("x" * 40)}), rows[2].subscriber_id, None
    )
    assert handle.handle(settings, mailto_request(other)).outcomes == ("invalid_token",)
    # a token whose row has since been replaced (wiped and added again: a new nonce)
    stale = token_of(settings, rows[3].subscriber_id)
    with db.session_scope(settings) as session:
        replaced = session.get(Subscriber, rows[3].subscriber_id)
        assert replaced is not None
        replaced.token_nonce = new_nonce()
    assert handle.handle(settings, mailto_request(stale)).outcomes == ("unknown_subscriber",)
    with db.session_scope(settings) as session:
        states = {i: st for i, st in session.execute(select(Subscriber.id, Subscriber.state))}
    assert states[rows[1].subscriber_id] == SubscriberState.unsubscribed
    assert [s for s in states.values() if s == SubscriberState.unsubscribed] == [
        SubscriberState.unsubscribed
    ]


def test_a_bounce_of_our_message_never_unsubscribes_through_its_quoted_headers(
    sent: tuple[Settings, list[Delivery]],
) -> None:
    """The bounce quotes our List-Unsubscribe with `subject=unsubscribe-TOKEN`; it is sorted as a
    bounce, and the only change is the bounce itself."""
    settings, rows = sent
    with db.session_scope(settings) as session:
        digest = session.scalars(select(Digest)).one()
        template = template_from_storage(get_storage(settings), settings, digest)
    from worker.delivery.ledger import load_rows
    from worker.delivery.sender import _recipient

    with db.get_engine(settings.database_url).connect() as conn:
        (row,) = load_rows(conn, [rows[3].id])
    ours = template.personalize(_recipient(settings, row))
    assert b"subject=unsubscribe-" in ours
    address = email_of(settings, rows[3].subscriber_id)
    quoted = report(rows[3].message_id, address).replace(
        b"Message-ID: ", ours.split(b"\r\n\r\n", 1)[0] + b"\r\nX-Old-Message-ID: "
    )
    handled = handle.handle(settings, quoted)
    assert (handled.kind, handled.outcomes) == ("bounce", ("bounced",))
    with db.session_scope(settings) as session:
        subscriber = session.get(Subscriber, rows[3].subscriber_id)
        assert subscriber is not None and subscriber.state == SubscriberState.active
        assert list(session.scalars(select(Suppression.email))) == [address]


def test_mailboxes_maildir_mbox_folder_and_file(tmp_path: Path) -> None:
    one, two = b"Subject: one\r\n\r\n1\r\n", b"Subject: two\r\n\r\n2\r\n"
    box = mailbox.Maildir(str(tmp_path / "Maildir"), create=True)
    box.add(one)
    box.add(two)
    mbox = mailbox.mbox(str(tmp_path / "mail.mbox"))
    mbox.add(one)
    mbox.add(two)
    mbox.close()
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "a.eml").write_bytes(one)
    (tmp_path / "folder" / "b.eml").write_bytes(two)
    for path in ("Maildir", "mail.mbox", "folder"):
        subjects = sorted(
            returned.parse(raw)["Subject"] for _, raw in mailboxes.messages(tmp_path / path)
        )
        assert subjects == ["one", "two"], path
    assert [raw for _, raw in mailboxes.messages(tmp_path / "folder" / "a.eml")] == [one]
    with pytest.raises(mailboxes.MailboxError):
        list(mailboxes.messages(tmp_path / "missing"))


def test_inbox_import_sorts_acts_and_changes_nothing_the_second_time(
    sent: tuple[Settings, list[Delivery]], tmp_path: Path
) -> None:
    settings, rows = sent
    box = mailbox.Maildir(str(tmp_path / "inbox"), create=True)
    box.add(report(rows[0].message_id, email_of(settings, rows[0].subscriber_id)))
    box.add(about(B1, rows[1].message_id))
    box.add(mailto_request(token_of(settings, rows[2].subscriber_id)))
    box.add(report(rows[3].message_id, "victim@example.com"))  # refused: another address
    box.add(b"Subject: Re: Ukraine Daily\r\n\r\nGreat issue!\r\n")
    summary = inbox.import_path(settings, tmp_path / "inbox")
    assert summary.kinds == {"bounce": 2, "complaint": 1, "unsubscribe": 1, "other": 1}
    assert summary.outcomes["bounced"] == summary.outcomes["complained"] == 1
    assert summary.outcomes["unsubscribed"] == 1 and summary.outcomes["wrong_recipient"] == 1
    assert (
        len(summary.problems) == 1 and "not the address the row was sent to" in summary.problems[0]
    )
    env = cli_env(settings, tmp_path)
    command = [sys.executable, "-m", "worker", "inbox", "import", str(tmp_path / "inbox")]
    again = subprocess.run(command, env=env, capture_output=True, text=True, cwd=REPO)
    assert again.returncode == 0, again.stderr
    said = " ".join(again.stdout.split())
    assert "5 messages: 2 bounces (0 bounced and suppressed, 0 delayed)" in said
    assert "0 changes, 3 already recorded, 1 refused" in said
    assert "wrong_recipient" not in again.stderr and "not the address" in again.stderr
    with db.session_scope(settings) as session:
        states = {i: st for i, st in session.execute(select(Subscriber.id, Subscriber.state))}
        suppressed = sorted(session.scalars(select(Suppression.email)))
    assert (
        states[rows[1].subscriber_id]
        == states[rows[2].subscriber_id]
        == SubscriberState.unsubscribed
    )
    assert states[rows[3].subscriber_id] == SubscriberState.active
    assert suppressed == sorted(
        [email_of(settings, rows[0].subscriber_id), email_of(settings, rows[1].subscriber_id)]
    )
