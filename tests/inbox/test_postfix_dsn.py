"""Real bounces: the digest sent through a private Debian Postfix that writes its own delivery
status notifications (an unknown user 5.1.1, an alias rewritten to an unknown user, an expired
message 4.4.1, a non-ASCII address over SMTPUTF8) into a Maildir, which `digestcast inbox
import` then reads. A second instance with another secret shares the bounce mailbox: its
reports, about the same subscriber ids, change nothing of ours."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import make_settings
from tests.delivery.helpers import DAY, stage_digest
from tests.delivery.test_bounces import cli_env
from tests.digest.conftest import Factory, sample_day
from tests.inbox.mailservers import postfix, wait_for_files
from worker import db
from worker.delivery import subscribers
from worker.digest.build import build_digest
from worker.edition import lifecycle
from worker.edition.progress import wait_for_drain
from worker.inbox.intake import import_path
from worker.models import Delivery, DeliveryEvent, DeliveryState, Subscriber, Suppression
from worker.settings import Settings
from worker.storage import get_storage

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
OURS = [
    ("nosuch@mail.example.org", None),  # 1: unknown user, 5.1.1
    ("iryna@example.net", "Ірина Бондаренко-Ковальчук з Вінницької області"),  # 2: alias
    ("late@slow.example.net", None),  # 3: never reachable, expires: 4.4.1
    ("reader@mail.example.org", "Reader"),  # 4: delivered
    ("олена@mail.example.org", "Олена"),  # 5: non-ASCII local part over SMTPUTF8, unknown
]


def _send(settings: Settings, people: list[tuple[str, str | None]], real: bool) -> int:
    with db.session_scope(settings) as session:
        for email, name in people:
            subscribers.add(session, email, name=name)
        if real:
            sample_day(Factory(session))
            session.commit()
            digest_id = build_digest(session, settings, get_storage(settings), DAY).id
        else:
            digest_id = stage_digest(session, settings)
    started = lifecycle.start(settings, DAY, by="test")
    assert started.ok, started
    drained = wait_for_drain(settings, digest_id, timeout=60)
    assert drained["counts"] == {"sent": len(people)}, drained
    return digest_id


def _rows(settings: Settings) -> dict[str, Any]:
    with db.session_scope(settings) as session:
        rows = session.execute(
            select(Subscriber.email, Delivery.state, Delivery.last_error)
            .join(Delivery, Delivery.subscriber_id == Subscriber.id)
            .order_by(Subscriber.id)
        )
        return {email: (state, error) for email, state, error in rows}


def test_postfix_writes_the_reports_and_the_inbox_reads_them(tmp_path: Path) -> None:
    with postfix() as relay:
        common: dict[str, Any] = {
            "smtp_url": relay.url,
            "bounce_address": "bounces@mail.example.org",
            "bounce_verp": True,
        }
        ours = make_settings(tmp_path / "ours", **common)
        theirs = make_settings(tmp_path / "theirs", secret_key="another instance", **common)
        for s in (ours, theirs):
            db.upgrade(s)
        _send(ours, OURS, real=True)
        # the other instance: subscriber 4 is an unknown user there, delivered here
        _send(theirs, [(f"stranger{i}@mail.example.org", None) for i in range(1, 6)], real=False)
        wait_for_files(relay.maildir("bounces") / "new", 9)
        wait_for_files(relay.maildir("reader") / "new", 1)
        log = relay.log()
        # the instance's folder goes with it: keep the two mailboxes
        mailbox_dir = shutil.copytree(relay.maildir("bounces"), tmp_path / "bounces")
        reader = shutil.copytree(relay.maildir("reader"), tmp_path / "reader")
    reports = sorted((mailbox_dir / "new").iterdir())
    delivered = sorted((reader / "new").iterdir())
    assert len(reports) == 9, log
    assert len(delivered) == 1
    raw_reports = [p.read_bytes() for p in reports]
    # Postfix wrote them to the VERP address of each row, and quoted our signed Message-ID
    assert all(b"Delivered-To: bounces+digest-1.sub-" in r for r in raw_reports)
    assert sum(b"Status: 4.4.1" in r for r in raw_reports) == 1
    assert sum(b"Original-Recipient: rfc822;iryna@example.net" in r for r in raw_reports) == 1
    assert any(b"message/global-delivery-status" in r for r in raw_reports)  # the SMTPUTF8 one
    delivered_copy = delivered[0].read_bytes()
    assert b"To: Reader <reader@mail.example.org>" in delivered_copy

    command = [sys.executable, "-m", "worker", "inbox", "import", str(mailbox_dir)]
    first = subprocess.run(
        command, env=cli_env(ours, tmp_path / "ours"), capture_output=True, text=True, cwd=REPO
    )
    assert first.returncode == 0, first.stderr
    said = " ".join(first.stdout.split())
    assert "9 messages: 9 bounces (4 bounced and suppressed, 0 delayed)" in said, said
    assert "5 refused" in said  # the other instance's reports: not ours

    rows = _rows(ours)
    assert rows["reader@mail.example.org"][0] == DeliveryState.sent
    for email in ("nosuch@mail.example.org", "iryna@example.net", "late@slow.example.net"):
        assert rows[email][0] == DeliveryState.bounced, (email, rows[email])
    assert rows["олена@mail.example.org"][0] == DeliveryState.bounced
    assert rows["nosuch@mail.example.org"][1].startswith("bounce 5.1.1")
    assert rows["late@slow.example.net"][1].startswith("bounce 4.4.1")
    with db.session_scope(ours) as session:
        suppressed = sorted(session.scalars(select(Suppression.email)))
        bounced_events = list(
            session.scalars(select(DeliveryEvent.id).where(DeliveryEvent.kind == "bounced"))
        )
    # the alias's own subscriber, never the address Postfix rewrote it to
    assert suppressed == sorted(
        [
            "iryna@example.net",
            "late@slow.example.net",
            "nosuch@mail.example.org",
            "олена@mail.example.org",
        ]
    )
    assert len(bounced_events) == 4
    # the other instance's own records are untouched by our import
    assert {s for s, _ in _rows(theirs).values()} == {DeliveryState.sent}

    again = import_path(ours, mailbox_dir)
    assert again.outcomes["already"] == 4 and not {"bounced", "delayed"} & set(again.outcomes)
    assert _rows(ours) == rows
