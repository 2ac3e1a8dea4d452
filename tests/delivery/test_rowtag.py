"""The signed row tag in every Message-ID (and VERP address): made and read back, forged and
foreign tags refused; fan-out and resend write signed ids."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from tests.delivery.helpers import DAY, add_subscribers, queue_rows, stage_digest
from worker import db
from worker.delivery import ledger, rowtag
from worker.delivery.sender import send_batch
from worker.edition import lifecycle
from worker.models import Delivery
from worker.settings import Settings

SECRET = "test-secret"


@given(st.integers(1, 10**9), st.integers(1, 10**9), st.integers(0, 999))
def test_a_tag_reads_back_as_its_row(digest_id: int, subscriber_id: int, resend: int) -> None:
    tag = rowtag.tag(SECRET, digest_id, subscriber_id, resend)
    assert rowtag.find(SECRET, f"<{tag}@example.org>") == [
        rowtag.RowRef(digest_id, subscriber_id, resend)
    ]
    assert rowtag.find(SECRET, tag.upper()) == [rowtag.RowRef(digest_id, subscriber_id, resend)]
    assert rowtag.find("another instance's secret", tag) == []


def test_forged_and_guessed_tags_name_nothing() -> None:
    real = rowtag.tag(SECRET, 4, 9)
    assert re.fullmatch(r"digest-4\.sub-9\.[0-9a-f]{20}", real)
    mac = real.rsplit(".", 1)[1]
    assert rowtag.find(SECRET, "<digest-4.sub-9@example.org>") == []  # the old, guessable shape
    assert rowtag.find(SECRET, f"<digest-4.sub-10.{mac}@example.org>") == []  # mac of another row
    assert rowtag.find(SECRET, f"<digest-4.sub-9.r1.{mac}@example.org>") == []  # another copy
    assert rowtag.find(SECRET, f"<digest-4.sub-9.r0.{mac}@example.org>") == []
    flipped = mac[:-1] + ("a" if mac[-1] != "a" else "b")
    assert rowtag.find(SECRET, f"<digest-4.sub-9.{flipped}@example.org>") == []


def test_verp_address_and_message_id_carry_the_same_tag() -> None:
    tag = rowtag.tag(SECRET, 1, 2, 3)
    assert rowtag.verp_address("bounces@example.org", tag) == f"bounces+{tag}@example.org"
    assert rowtag.message_id(SECRET, "example.org", 1, 2, 3) == f"<{tag}@example.org>"
    assert rowtag.tag_of(rowtag.message_id(SECRET, "example.org", 1, 2, 3)) == tag


def test_fan_out_and_resend_write_signed_ids_and_verp_senders(settings: Settings) -> None:
    s = settings.model_copy(update={"bounce_address": "bounces@example.org", "bounce_verp": True})
    with db.session_scope(s) as session:
        digest_id = stage_digest(session, s)
        add_subscribers(session, 3)
        ids = [i for batch in queue_rows(session, s, digest_id, 2) for i in batch]
    assert send_batch(s, digest_id, ids)["sent"] == 3
    secret = s.secret_key.get_secret_value()
    with db.session_scope(s) as session:
        rows = list(session.scalars(select(Delivery).order_by(Delivery.id)))
        for row in rows:
            assert rowtag.find(secret, row.message_id) == [
                rowtag.RowRef(digest_id, row.subscriber_id)
            ]
            assert row.message_id.endswith("@example.org>")
        sender = ledger.Senders(s).of(rows[0].message_id)
        assert sender == f"bounces+{rows[0].message_id[1:].split('@')[0]}@example.org"
    result = lifecycle.resend(s, DAY, everyone=True)
    assert result["queued"] == 3
    with db.session_scope(s) as session:
        for row in session.scalars(select(Delivery)):
            assert row.resend_count == 1
            assert rowtag.find(secret, row.message_id) == [
                rowtag.RowRef(digest_id, row.subscriber_id, 1)
            ]
            assert ".r1." in row.message_id
    sent = sorted((s.outbox_dir / "new").iterdir())
    assert len(sent) == 6
