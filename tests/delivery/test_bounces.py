"""Bounce reports (RFC 3464) read back into the ledger, on SQLite and PostgreSQL, and through
the `digestcast bounces import` command."""

from __future__ import annotations

import mailbox
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from tests.delivery.helpers import add_subscribers, queue_rows, stage_digest
from worker import db
from worker.delivery import bounces, service
from worker.models import Delivery, DeliveryEvent, DeliveryState, Subscriber, Suppression
from worker.settings import Settings

REPO = Path(__file__).resolve().parents[2]


def report(message_id: str, recipient: str, action: str = "failed", status: str = "5.1.1") -> bytes:
    """A delivery status notification as Postfix writes one (trimmed)."""
    return f"""\
From: MAILER-DAEMON@relay.example.net (Mail Delivery System)
To: bounces@example.org
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
Original-Recipient: rfc822;{recipient}
Action: {action}
Status: {status}
Diagnostic-Code: smtp; 550 {status} <{recipient}>: Recipient address rejected

--B1
Content-Type: text/rfc822-headers

From: daily@example.org
To: {recipient}
Subject: Ukraine Daily
Message-ID: {message_id}

--B1--
""".replace("\n", "\r\n").encode()


def _sent_digest(settings: Settings, count: int = 3) -> tuple[int, list[Delivery]]:
    with db.session_scope(settings) as session:
        digest_id = stage_digest(session, settings)
        add_subscribers(session, count)
        ids = [i for batch in queue_rows(session, settings, digest_id, 100) for i in batch]
    assert service.send_batch(settings, digest_id, ids)["sent"] == count
    with db.session_scope(settings) as session:
        rows = list(session.scalars(select(Delivery).order_by(Delivery.id)))
        session.expunge_all()
    return digest_id, rows


def _email(settings: Settings, subscriber_id: int) -> str:
    with db.session_scope(settings) as session:
        return str(session.scalar(select(Subscriber.email).where(Subscriber.id == subscriber_id)))


def test_parse_report_reads_recipient_status_and_message_id() -> None:
    (bounce,) = bounces.parse_report(report("<digest-4.sub-9@example.org>", "a@example.net"))
    assert bounce.message_id == "<digest-4.sub-9@example.org>"
    assert bounce.recipient == "a@example.net"
    assert (bounce.action, bounce.status, bounce.hard) == ("failed", "5.1.1", True)
    assert "Recipient address rejected" in bounce.diagnostic
    assert bounces.parse_report(b"Subject: hello\r\n\r\njust mail\r\n") == []


def test_hard_bounce_marks_the_row_and_suppresses_once(any_db_settings: Settings) -> None:
    settings = any_db_settings
    _, rows = _sent_digest(settings)
    hit, delayed_row = rows[0], rows[1]
    address = _email(settings, hit.subscriber_id)
    with db.session_scope(settings) as session:
        assert bounces.process(session, report(hit.message_id, address)) == ["bounced"]
        assert bounces.process(
            session,
            report(delayed_row.message_id, "x@example.net", action="delayed", status="4.4.1"),
        ) == ["delayed"]
        assert bounces.process(session, report("<other@example.com>", address)) == ["not_ours"]
        assert bounces.process(session, b"\x00\xff not a report") == ["unreadable"]
    with db.session_scope(settings) as session:  # the same reports again: nothing changes
        assert bounces.process(session, report(hit.message_id, address)) == ["already"]
        assert bounces.process(
            session,
            report(delayed_row.message_id, "x@example.net", action="delayed", status="4.4.1"),
        ) == ["already"]
    with db.session_scope(settings) as session:
        states = {i: s for i, s in session.execute(select(Delivery.id, Delivery.state))}
        assert states[hit.id] == DeliveryState.bounced
        assert states[delayed_row.id] == DeliveryState.sent
        assert states[rows[2].id] == DeliveryState.sent
        assert session.scalar(select(Delivery.last_error).where(Delivery.id == hit.id)) == (
            f"bounce 5.1.1 smtp; 550 5.1.1 <{address}>: Recipient address rejected"
        )
        suppressed = list(session.scalars(select(Suppression.email)))
        assert suppressed == [address]
        kinds = list(session.scalars(select(DeliveryEvent.kind).order_by(DeliveryEvent.id)))
        assert kinds.count("bounced") == 1 and kinds.count("delayed") == 1


def test_bounced_address_is_not_mailed_next_time(settings: Settings) -> None:
    _, rows = _sent_digest(settings, count=2)
    address = _email(settings, rows[0].subscriber_id)
    with db.session_scope(settings) as session:
        assert bounces.process(session, report(rows[0].message_id, address)) == ["bounced"]
    from datetime import date

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


def test_cli_imports_a_maildir_of_reports(settings: Settings, tmp_path: Path) -> None:
    _, rows = _sent_digest(settings, count=2)
    box = mailbox.Maildir(str(tmp_path / "bounces"), create=True)
    box.add(report(rows[0].message_id, _email(settings, rows[0].subscriber_id)))
    box.add(report(rows[1].message_id, "b@example.net", action="delayed", status="4.2.2"))
    box.add(b"Subject: out of office\r\n\r\nback Monday\r\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGESTCAST_")}
    env.update(
        DIGESTCAST_DATABASE_URL=settings.database_url,
        DIGESTCAST_DATA_DIR=str(settings.data_dir),
        DIGESTCAST_SECRET_KEY=settings.secret_key.get_secret_value(),
        DIGESTCAST_CONFIG=str(tmp_path / "absent.toml"),
    )
    command = [sys.executable, "-m", "worker", "bounces", "import", str(tmp_path / "bounces")]
    first = subprocess.run(command, env=env, capture_output=True, text=True, cwd=REPO)
    assert first.returncode == 0, first.stderr
    said = " ".join(first.stdout.split())  # rich wraps at the terminal's width
    assert "1 bounced (suppressed), 1 delayed, 0 already recorded" in said
    assert "1 not delivery reports" in said
    assert "unreadable" in first.stderr  # the out-of-office reply is named
    again = subprocess.run(command, env=env, capture_output=True, text=True, cwd=REPO)
    assert "0 bounced (suppressed), 0 delayed, 2 already recorded" in " ".join(again.stdout.split())
