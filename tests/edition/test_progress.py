"""worker/edition/progress.py: one-statement snapshots of a send, and waiting for it to end.

Every wait here ends on its first look (the edition is already drained or stopped): no sleeps.
"""

from __future__ import annotations

from tests.edition.helpers import NOW, edition_with_rows
from worker import db
from worker.edition.progress import Snapshot, snapshot, wait_for_drain
from worker.models import DeliveryState, Digest, DigestState
from worker.settings import Settings


def _edition(
    settings: Settings,
    states: list[DeliveryState],
    *,
    state: DigestState = DigestState.sending,
    ledger_rows: int | None = None,
    fanned_out: bool = True,
    skip_reason: str | None = None,
) -> int:
    return edition_with_rows(
        settings,
        states,
        state=state,
        fanned_out_at=NOW if fanned_out else None,
        ledger_rows=len(states) if ledger_rows is None else ledger_rows,
        skip_reason=skip_reason,
    )


def test_done_is_total_minus_left_never_below_zero() -> None:
    assert Snapshot(None, 0, 0, True, None).done == 0
    assert Snapshot(DigestState.sending, 10, 4, True, None).done == 6
    assert Snapshot(DigestState.sending, 3, 5, False, None).done == 0  # never below zero


def test_snapshot_reads_total_and_rows_left(settings: Settings) -> None:
    queued, sending, sent = DeliveryState.queued, DeliveryState.sending, DeliveryState.sent
    digest_id = _edition(settings, [queued, sending, sent, sent], ledger_rows=10, fanned_out=False)
    with db.session_scope(settings) as session:
        snap = snapshot(session, digest_id)
        assert snap == Snapshot(DigestState.sending, 10, 2, False, None)
        assert snap.done == 8
        assert snapshot(session, digest_id + 1) == Snapshot(None, 0, 0, True, None)


def test_wait_for_a_drained_send_finishes_it_and_reports_everything(settings: Settings) -> None:
    digest_id = _edition(settings, [DeliveryState.sent, DeliveryState.sent, DeliveryState.failed])
    seen: list[tuple[int, int]] = []
    result = wait_for_drain(settings, digest_id, lambda d, t, _: seen.append((d, t)), timeout=30)
    assert result["drained"] is True and result["reason"] is None
    assert result["counts"] == {"sent": 2, "failed": 1}
    assert seen == [(3, 3)]
    with db.session_scope(settings) as session:
        digest = session.get(Digest, digest_id)
        assert digest is not None and digest.state == DigestState.sent  # moved at once


def test_wait_for_a_paused_send_returns_its_reason_not_drained(settings: Settings) -> None:
    digest_id = _edition(
        settings,
        [DeliveryState.queued, DeliveryState.sent],
        state=DigestState.paused,
        skip_reason="bounce storm",
    )
    result = wait_for_drain(settings, digest_id, timeout=30)
    assert result["drained"] is False
    assert (result["state"], result["reason"]) == ("paused", "bounce storm")
    assert result["counts"] == {"queued": 1, "sent": 1}
