"""Editions made by hand for the lifecycle's unit tests: a digest and one ledger row per state."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from worker import db
from worker.models import Delivery, DeliveryState, Digest, DigestState, Subscriber
from worker.settings import Settings

DAY = date(2026, 11, 27)
NOW = datetime(2026, 11, 27, 6, tzinfo=UTC)


def edition_with_rows(settings: Settings, states: list[DeliveryState], **digest: Any) -> int:
    """A `sending` edition of DAY (or as `digest` says) with one reader and row per state."""
    with db.session_scope(settings) as session:
        row = Digest(**{"date": DAY, "state": DigestState.sending, "window_end": NOW, **digest})
        session.add(row)
        session.flush()
        for number, state in enumerate(states):
            reader = Subscriber(email=f"r{number}@example.net")
            session.add(reader)
            session.flush()
            session.add(
                Delivery(
                    digest_id=row.id,
                    subscriber_id=reader.id,
                    edition_date=row.date,
                    state=state,
                    message_id=f"<m{number}@example.com>",
                )
            )
        return row.id
