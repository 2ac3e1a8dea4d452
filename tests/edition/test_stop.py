"""worker/edition/stop.py: pause and cancel on real SQLite, what they do to the ledger."""

from __future__ import annotations

from sqlalchemy import select

from tests.edition.helpers import DAY, edition_with_rows
from worker import db
from worker.edition.record import history
from worker.edition.stop import cancel, pause, sending_now, sweep_cancelled, wait_quiet
from worker.models import Delivery, DeliveryState
from worker.settings import Settings


def _sending_edition(settings: Settings, states: list[DeliveryState]) -> int:
    """A built edition in `sending`, with one ledger row per state given."""
    return edition_with_rows(settings, states)


def _row_states(settings: Settings, digest_id: int) -> list[str]:
    with db.session_scope(settings) as session:
        rows = session.scalars(
            select(Delivery.state).where(Delivery.digest_id == digest_id).order_by(Delivery.id)
        )
        return [str(s) for s in rows]


def test_pause_records_who_and_why_and_leaves_rows_queued(settings: Settings) -> None:
    digest_id = _sending_edition(settings, [DeliveryState.queued, DeliveryState.sent])
    outcome = pause(settings, digest_id, by="editor", reason="wrong headline")
    assert (outcome.ok, outcome.from_state, outcome.to_state) == (True, "sending", "paused")
    assert "in_flight" not in outcome.detail  # no wait asked for
    assert _row_states(settings, digest_id) == ["queued", "sent"]
    with db.session_scope(settings) as session:
        [event] = history(session, digest_id)
    assert (event["action"], event["by"], event["reason"]) == ("pause", "editor", "wrong headline")


def test_cancel_by_day_cancels_queued_rows_only_and_waits_for_none(settings: Settings) -> None:
    digest_id = _sending_edition(
        settings, [DeliveryState.queued, DeliveryState.queued, DeliveryState.sent]
    )
    outcome = cancel(settings, DAY, by="ops", wait_seconds=5.0)
    assert outcome.ok and outcome.to_state == "cancelled" and outcome.digest_id == digest_id
    assert outcome.detail == {"cancelled_rows": 2, "in_flight": 0}
    assert _row_states(settings, digest_id) == ["cancelled", "cancelled", "sent"]


def test_stopping_an_edition_twice_or_one_never_built_is_refused(settings: Settings) -> None:
    assert not pause(settings, DAY).ok  # nothing built that day
    digest_id = _sending_edition(settings, [DeliveryState.queued])
    assert cancel(settings, digest_id).ok
    again = pause(settings, digest_id, by="ops")
    assert not again.ok and again.to_state == "cancelled" and again.reason
    assert "refused" in again.line()


def test_sending_now_sweep_and_wait_quiet_count_rows_on_the_wire(settings: Settings) -> None:
    digest_id = _sending_edition(
        settings, [DeliveryState.sending, DeliveryState.queued, DeliveryState.sent]
    )
    with db.session_scope(settings) as session:
        assert sending_now(session, digest_id) == 1
        assert sweep_cancelled(session, digest_id) == 1  # the queued row, not the sending one
        assert sweep_cancelled(session, digest_id) == 0
    assert wait_quiet(settings, digest_id, 0) == 1  # no time given: reports at once
    assert _row_states(settings, digest_id) == ["sending", "cancelled", "sent"]
