"""`digestcast inbox fetch` against a real IMAP server (a private Debian Dovecot): each message
is handled once, flagged so the next fetch skips it, reports are marked read and the rest is
left unread for a person; the beat runs the fetch only when INBOX_IMAP_URL is set."""

from __future__ import annotations

import imaplib
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from scheduler.schedule import INBOX_FETCH, beat_schedule
from tests.delivery.helpers import sent_rows, token_of
from tests.delivery.test_bounces import cli_env, report
from tests.delivery.test_complaints import B1, about
from tests.inbox.mailservers import Dovecot, dovecot
from tests.inbox.test_handle import mailto_request
from worker import db
from worker.inbox import imap
from worker.inbox.intake import fetch
from worker.models import Subscriber, SubscriberState, Suppression
from worker.settings import Settings

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
HUMAN = b"From: a.reader@example.net\r\nSubject: Re: Ukraine Daily\r\n\r\nThank you!\r\n"


def _append(server: Dovecot, messages: list[bytes]) -> None:
    conn = imaplib.IMAP4("127.0.0.1", server.port)
    conn.login(server.user, server.password)
    for raw in messages:
        typ, _ = conn.append("INBOX", None, imaplib.Time2Internaldate(time.time()), raw)
        assert typ == "OK"
    conn.logout()


def _flags(server: Dovecot) -> list[str]:
    conn = imaplib.IMAP4("127.0.0.1", server.port)
    conn.login(server.user, server.password)
    conn.select("INBOX", readonly=True)
    _, data = conn.uid("FETCH", "1:*", "(FLAGS)")
    conn.logout()
    flags = []
    for item in data:
        if isinstance(item, bytes):
            names = [f.decode() for f in imaplib.ParseFlags(item) if f != b"\\Recent"]
            flags.append(" ".join(sorted(names)))
    return sorted(flags)


def test_fetch_handles_each_message_once_and_flags_it(settings: Settings) -> None:
    _, rows = sent_rows(settings, 3)
    with db.session_scope(settings) as session:
        emails = {s.id: s.email for s in session.scalars(select(Subscriber))}
    with dovecot() as server:
        s = settings.model_copy(update={"inbox_imap_url": SecretStr(server.url())})
        _append(
            server,
            [
                report(rows[0].message_id, emails[rows[0].subscriber_id]),
                about(B1, rows[1].message_id),
                mailto_request(token_of(s, rows[2].subscriber_id)),
                HUMAN,
            ],
        )
        first = fetch(s)
        # the same mailbox again: nothing left to handle
        again = subprocess.run(
            [sys.executable, "-m", "worker", "inbox", "fetch"],
            env={**cli_env(s, s.data_dir.parent), "DIGESTCAST_INBOX_IMAP_URL": server.url()},
            capture_output=True,
            text=True,
            cwd=REPO,
        )
        # new mail after that is picked up, and only it
        _append(server, [report(rows[0].message_id, emails[rows[0].subscriber_id])])
        third = fetch(s)
        flags = _flags(server)
    assert first.kinds == {"bounce": 1, "complaint": 1, "unsubscribe": 1, "other": 1}
    assert (first.outcomes["bounced"], first.outcomes["complained"]) == (1, 1)
    assert first.outcomes["unsubscribed"] == 1 and not first.problems
    assert again.returncode == 0, again.stderr
    assert "inbox imap://127.0.0.1" in again.stdout and " 0 messages" in again.stdout
    assert third.kinds == {"bounce": 1} and third.outcomes == {"already": 1}
    # reports are read and flagged; the reader's reply is flagged but left unread for a person
    assert flags == [
        "$Digestcast",
        "$Digestcast \\Seen",
        "$Digestcast \\Seen",
        "$Digestcast \\Seen",
        "$Digestcast \\Seen",
    ]
    with db.session_scope(settings) as session:
        left = {i: st for i, st in session.execute(select(Subscriber.id, Subscriber.state))}
        suppressed = sorted(session.scalars(select(Suppression.email)))
    assert (
        left[rows[1].subscriber_id] == left[rows[2].subscriber_id] == SubscriberState.unsubscribed
    )
    assert suppressed == sorted([emails[rows[0].subscriber_id], emails[rows[1].subscriber_id]])


def test_a_wrong_password_is_a_clear_error(settings: Settings) -> None:
    with dovecot() as server:
        wrong = server.url().replace(server.password, "wrong")
        s = settings.model_copy(update={"inbox_imap_url": SecretStr(wrong)})
        with pytest.raises(
            imap.ImapError, match=r"login as unsubscribe@mail\.example\.org refused"
        ):
            fetch(s)


def test_the_url_and_the_beat_entry(settings: Settings) -> None:
    config = imap.ImapConfig.from_url(
        "imaps://bounces%40example.org:p%40ss@imap.example.org/Bounces"
    )
    assert (config.host, config.port, config.implicit_tls) == ("imap.example.org", 993, True)
    assert (config.user, config.password, config.mailbox) == (
        "bounces@example.org",
        "p@ss",
        "Bounces",
    )
    plain = imap.ImapConfig.from_url("imap://u:p@127.0.0.1:1143?starttls=1&verify=0")
    assert (plain.port, plain.starttls, plain.verify, plain.mailbox) == (1143, True, False, "INBOX")
    with pytest.raises(imap.ImapError):
        imap.ImapConfig.from_url("pop3://u:p@host")
    assert INBOX_FETCH not in beat_schedule(settings)
    s = settings.model_copy(
        update={"inbox_imap_url": SecretStr("imaps://u:p@h/INBOX"), "inbox_fetch_every_minutes": 5}
    )
    entry = beat_schedule(s)[INBOX_FETCH]
    assert entry["task"] == "inbox.fetch"
    assert sorted(entry["schedule"].minute) == list(range(3, 60, 5))
