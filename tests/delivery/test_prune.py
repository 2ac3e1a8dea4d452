"""`digestcast db prune`: old finished editions lose their ledger rows and keep their totals,
which status reads; recent and unfinished editions are untouched. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from tests.delivery.helpers import DAY, add_subscribers, queue_rows, stage_digest
from worker import db
from worker.delivery import counters, prune
from worker.delivery.ledger_models import DeliveryCount, EditionTotal
from worker.models import Delivery, DeliveryEvent, DeliveryState, Digest, DigestState
from worker.settings import Settings


def _edition(settings: Settings, day_offset: int, state: DigestState) -> int:
    with db.session_scope(settings) as session:
        digest_id = stage_digest(session, settings, day=DAY + timedelta(day_offset))
        queue_rows(session, settings, digest_id, 10)
        session.execute(
            update(Delivery)
            .where(Delivery.digest_id == digest_id, Delivery.subscriber_id <= 2)
            .values(state=DeliveryState.failed)
        )
        session.execute(
            update(Delivery)
            .where(Delivery.digest_id == digest_id, Delivery.subscriber_id > 2)
            .values(state=DeliveryState.sent)
        )
        first = session.scalar(select(func.min(Delivery.id)).where(Delivery.digest_id == digest_id))
        session.add(DeliveryEvent(delivery_id=first, kind="sent"))
        session.execute(update(Digest).where(Digest.id == digest_id).values(state=state))
    return digest_id


def test_prune_keeps_totals_and_spares_recent_and_unfinished(any_db_settings: Settings) -> None:
    s = any_db_settings
    with db.session_scope(s) as session:
        add_subscribers(session, 5)
    old = _edition(s, 0, DigestState.sent)
    old_paused = _edition(s, 1, DigestState.paused)  # not finished: kept whatever its age
    recent = _edition(s, 400, DigestState.sent)
    today = DAY + timedelta(401)
    with db.session_scope(s) as session:
        dry = prune.prune(session, today, prune.parse_age("400d"), dry_run=True)
        assert dry["editions"] == [{"date": DAY.isoformat(), "rows": 5}]
        assert session.scalar(select(func.count()).select_from(Delivery)) == 15
        prune.prune(session, today, prune.parse_age("400d"))
        prune.prune(session, today, prune.parse_age("400d"))  # a second run: nothing to do
        left = dict(
            session.execute(
                select(Delivery.digest_id, func.count()).group_by(Delivery.digest_id)
            ).all()
        )
        assert left == {old_paused: 5, recent: 5}
        assert session.scalar(select(func.count()).select_from(DeliveryEvent)) == 2
        assert session.scalar(select(func.count()).where(DeliveryCount.digest_id == old)) == 0
        kept = session.get(EditionTotal, old)
        assert kept is not None and kept.rows == 5
        # status and the console read the totals for a pruned edition
        assert counters.counts(session, old) == {"failed": 2, "sent": 3}
        assert counters.counts(session, recent) == {"failed": 2, "sent": 3}


def test_prune_command(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    with db.session_scope(settings) as session:
        add_subscribers(session, 3)
    _edition(settings, 0, DigestState.sent)  # DAY (2026-11-27) is more than 5 days ago
    from typer.testing import CliRunner

    from worker import cli

    # in-process (a subprocess costs seconds of imports), these settings
    monkeypatch.setattr(cli, "_settings", lambda: settings)
    done = CliRunner().invoke(cli.app, ["db", "prune", "--older-than", "5d"])
    assert done.exit_code == 0, done.output
    assert "pruned 1 editions" in done.stdout and "3 ledger rows" in done.stdout
    with db.session_scope(settings) as session:
        assert session.scalar(select(func.count()).select_from(Delivery)) == 0


@pytest.mark.parametrize("text", ["0d", "-3d", "d", "400 days"])
def test_parse_age_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        prune.parse_age(text)
