"""Bounce reports read back into the ledger (SQLite and PostgreSQL) and through the
`digestcast bounces import` command: only a report that proves its row (a signed tag) and names
the row's own address changes anything. Postfix writing its own reports is in
tests/inbox/test_postfix_dsn.py."""

from __future__ import annotations

import mailbox
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

from sqlalchemy import select

from tests.delivery.helpers import email_of, queue_rows, sent_rows, stage_digest
from worker import db
from worker.delivery import bounces, ledger, rowtag
from worker.models import Delivery, DeliveryEvent, DeliveryState, Suppression
from worker.settings import Settings

REPO = Path(__file__).resolve().parents[2]


def report(
    message_id: str,
    recipient: str,
    action: str = "failed",
    status: str = "5.1.1",
    original: str | None = None,
    to: str = "bounces@example.org",
) -> bytes:
    """A delivery status notification shaped as Postfix writes one (trimmed)."""
    original = original or recipient
    return f"""\
Return-Path: <>
Delivered-To: {to}
From: MAILER-DAEMON@relay.example.net (Mail Delivery System)
To: {to}
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B1"

--B1
Content-Type: text/plain; charset=us-ascii

I'm sorry to have to inform you that your message could not be delivered.

--B1
Content-Type: message/delivery-status

Reporting-MTA: dns; relay.example.net
Arrival-Date: Fri, 27 Nov 2026 05:00:01 +0000

Final-Recipient: rfc822; {recipient}
Original-Recipient: rfc822;{original}
Action: {action}
Status: {status}
Diagnostic-Code: smtp; 550 {status} <{recipient}>: Recipient address rejected

--B1
Content-Type: text/rfc822-headers

From: daily@example.org
To: {original}
Subject: Ukraine Daily
Message-ID: {message_id}

--B1--
""".replace("\n", "\r\n").encode()


def qmail_bounce(recipient: str, to: str, copy: str = "") -> bytes:
    """A qmail-send bounce (QSBMF, cr.yp.to/proto/qsbmf.txt): plain text, no DSN."""
    return f"""\
Return-Path: <>
Delivered-To: {to}
From: MAILER-DAEMON@mx.example.net
To: {to}
Subject: failure notice

Hi. This is the qmail-send program at mx.example.net.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<{recipient}>:
Sorry, no mailbox here by that name. (#5.1.1)

--- Below this line is a copy of the message.

{copy}""".replace("\n", "\r\n").encode()


def _process(settings: Settings, raw: bytes) -> list[str]:
    with db.session_scope(settings) as session:
        return list(bounces.process(session, settings, raw))


def _state(settings: Settings) -> tuple[dict[int, DeliveryState], list[str], list[str]]:
    with db.session_scope(settings) as session:
        states = {i: s for i, s in session.execute(select(Delivery.id, Delivery.state))}
        suppressed = sorted(session.scalars(select(Suppression.email)))
        kinds = sorted(session.scalars(select(DeliveryEvent.kind)))
    return states, suppressed, kinds


def test_parse_report_reads_both_recipients_and_the_status() -> None:
    (bounce,) = bounces.parse_report(
        report("<x@example.org>", "gone-user@mail.example.org", original="iryna@example.net")
    )
    assert (bounce.recipient, bounce.original_recipient) == (
        "gone-user@mail.example.org",
        "iryna@example.net",
    )
    assert (bounce.action, bounce.status, bounce.hard) == ("failed", "5.1.1", True)
    assert "Recipient address rejected" in bounce.diagnostic
    assert bounce.is_for("Iryna@example.net") and not bounce.is_for("other@example.net")
    assert bounces.parse_report(b"Subject: hello\r\n\r\njust mail\r\n") == []


def test_hard_bounce_marks_the_row_and_suppresses_once(any_db_settings: Settings) -> None:
    settings = any_db_settings
    _, rows = sent_rows(settings)
    hit, delayed_row = rows[0], rows[1]
    address = email_of(settings, hit.subscriber_id)
    delayed_address = email_of(settings, delayed_row.subscriber_id)
    delay = report(delayed_row.message_id, delayed_address, action="delayed", status="4.4.7")
    assert _process(settings, report(hit.message_id, address)) == ["bounced"]
    assert _process(settings, delay) == ["delayed"]
    assert _process(settings, b"\x00\xff not a report") == ["unreadable"]
    # the same reports again: nothing changes
    assert _process(settings, report(hit.message_id, address)) == ["already"]
    assert _process(settings, delay) == ["already"]
    states, suppressed, kinds = _state(settings)
    assert states == {
        hit.id: DeliveryState.bounced,
        delayed_row.id: DeliveryState.sent,
        rows[2].id: DeliveryState.sent,
    }
    with db.session_scope(settings) as session:
        assert session.scalar(select(Delivery.last_error).where(Delivery.id == hit.id)) == (
            f"bounce 5.1.1 smtp; 550 5.1.1 <{address}>: Recipient address rejected"
        )
    assert suppressed == [address]
    assert kinds.count("bounced") == 1 and kinds.count("delayed") == 1


def test_an_expired_message_is_a_hard_bounce(settings: Settings) -> None:
    """Postfix reports a message it gave up on as `Action: failed` with `Status: 4.4.1`."""
    _, rows = sent_rows(settings, count=1)
    address = email_of(settings, rows[0].subscriber_id)
    expired = report(rows[0].message_id, address, action="failed", status="4.4.1")
    assert _process(settings, expired) == ["bounced"]
    states, suppressed, _ = _state(settings)
    assert states[rows[0].id] == DeliveryState.bounced and suppressed == [address]


def test_after_an_alias_rewrite_the_rows_own_subscriber_is_suppressed(settings: Settings) -> None:
    _, rows = sent_rows(settings, count=1)
    address = email_of(settings, rows[0].subscriber_id)
    rewritten = report(rows[0].message_id, "gone-user@mail.example.org", original=address)
    assert _process(settings, rewritten) == ["bounced"]
    _, suppressed, _ = _state(settings)
    assert suppressed == [address]  # not gone-user@mail.example.org


def test_forged_and_foreign_reports_change_nothing(settings: Settings) -> None:
    digest_id, rows = sent_rows(settings, count=2)
    row = rows[0]
    address = email_of(settings, row.subscriber_id)
    other_instance = rowtag.message_id(
        "another instance's secret", "example.org", digest_id, row.subscriber_id
    )
    forged = [
        # the old, guessable shape of our ids
        report(f"<digest-{digest_id}.sub-{row.subscriber_id}@example.org>", address),
        # the right shape from an instance with another secret sharing the bounce mailbox
        report(other_instance, address),
        # a message that is not ours at all
        report("<20261127.abc@other.example.com>", address),
    ]
    for raw in forged:
        assert _process(settings, raw) == ["not_ours"]
    # our real id, but about an address the row was never sent to
    victim = email_of(settings, rows[1].subscriber_id)
    assert _process(settings, report(row.message_id, victim)) == ["wrong_recipient"]
    assert _process(settings, report(row.message_id, "someone@example.com")) == ["wrong_recipient"]
    # two rows named at once (a Message-ID of one, the VERP address of another): neither
    tag_b = rows[1].message_id[1:].split("@")[0]
    assert _process(settings, report(row.message_id, address, to=f"b+{tag_b}@example.org")) == [
        "not_ours"
    ]
    states, suppressed, kinds = _state(settings)
    assert set(states.values()) == {DeliveryState.sent}
    assert suppressed == [] and "bounced" not in kinds


def test_a_non_standard_bounce_counts_through_verp_or_the_quoted_copy(settings: Settings) -> None:
    s = settings.model_copy(update={"bounce_address": "bounces@example.org", "bounce_verp": True})
    _, rows = sent_rows(s, count=3)
    first, second, third = rows
    # qmail: no report part, no headers; the row is named by the VERP address it came back to
    verp = ledger.Senders(s).of(first.message_id)
    assert _process(s, qmail_bounce(email_of(s, first.subscriber_id), to=verp)) == ["bounced"]
    # ...or by the copy of the message quoted below the report
    copy = f"Message-ID: {second.message_id}\r\nSubject: Ukraine Daily\r\n\r\nbody\r\n"
    bounce = qmail_bounce(email_of(s, second.subscriber_id), "bounces@example.org", copy)
    assert _process(s, bounce) == ["bounced"]
    # ...and never for an address that is not the row's
    verp3 = ledger.Senders(s).of(third.message_id)
    assert _process(s, qmail_bounce("someone@example.com", to=verp3)) == ["wrong_recipient"]
    states, suppressed, _ = _state(s)
    assert states[third.id] == DeliveryState.sent
    assert suppressed == sorted(
        [email_of(s, first.subscriber_id), email_of(s, second.subscriber_id)]
    )


def test_bounced_address_is_not_mailed_next_time(settings: Settings) -> None:
    _, rows = sent_rows(settings, count=2)
    address = email_of(settings, rows[0].subscriber_id)
    assert _process(settings, report(rows[0].message_id, address)) == ["bounced"]
    with db.session_scope(settings) as session:
        digest_id = stage_digest(session, settings, day=date(2026, 11, 28))
        list(queue_rows(session, settings, digest_id, 100))
        query = select(Delivery.subscriber_id, Delivery.state).where(
            Delivery.digest_id == digest_id
        )
        states = {i: s for i, s in session.execute(query)}
    assert states == {
        rows[0].subscriber_id: DeliveryState.suppressed,
        rows[1].subscriber_id: DeliveryState.queued,
    }


def cli_env(settings: Settings, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGESTCAST_")}
    env.update(
        DIGESTCAST_DATABASE_URL=settings.database_url,
        DIGESTCAST_DATA_DIR=str(settings.data_dir),
        DIGESTCAST_SECRET_KEY=settings.secret_key.get_secret_value(),
        DIGESTCAST_CONFIG=str(tmp_path / "absent.toml"),
        COLUMNS="200",
    )
    return env


def test_cli_imports_a_maildir_of_reports(settings: Settings, tmp_path: Path) -> None:
    _, rows = sent_rows(settings, count=2)
    box = mailbox.Maildir(str(tmp_path / "bounces"), create=True)
    box.add(report(rows[0].message_id, email_of(settings, rows[0].subscriber_id)))
    box.add(
        report(
            rows[1].message_id, email_of(settings, rows[1].subscriber_id), "delayed", status="4.2.2"
        )
    )
    box.add(report(rows[1].message_id, "victim@example.com"))
    box.add(b"Subject: out of office\r\n\r\nback Monday\r\n")
    env = cli_env(settings, tmp_path)
    command = [sys.executable, "-m", "worker", "bounces", "import", str(tmp_path / "bounces")]
    first = subprocess.run(command, env=env, capture_output=True, text=True, cwd=REPO)
    assert first.returncode == 0, first.stderr
    said = " ".join(first.stdout.split())
    assert "1 bounced (suppressed), 1 delayed, 0 already recorded" in said
    assert "1 for another recipient, 1 not delivery reports" in said
    assert "unreadable" in first.stderr and "wrong_recipient" in first.stderr
    again = subprocess.run(command, env=env, capture_output=True, text=True, cwd=REPO)
    assert "0 bounced (suppressed), 0 delayed, 2 already recorded" in " ".join(again.stdout.split())
