"""`digestcast status`: the complaint rate of the day's edition, with a warning above 0.1%."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.delivery.helpers import DAY, add_subscribers, stage_digest
from worker.models import Delivery, DeliveryEvent, DeliveryState, Subscriber
from worker.settings import Settings
from worker.status import gather_status


def test_status_shows_the_complaint_rate_and_warns(session: Session, settings: Settings) -> None:
    digest_id = stage_digest(session, settings)
    add_subscribers(session, 2000)
    rows = [
        Delivery(
            digest_id=digest_id, subscriber_id=s.id, state=DeliveryState.sent, message_id="<x>"
        )
        for s in session.scalars(select(Subscriber))
    ]
    session.add_all(rows)
    session.flush()
    session.add(DeliveryEvent(delivery_id=rows[0].id, kind="complaint", detail="abuse"))
    session.commit()
    (quiet,) = gather_status(session, settings, DAY)["Complaints"]
    assert quiet == {"complaints": 1, "delivered": 2000, "rate": "0.05%", "warning": ""}
    for row in rows[1:4]:
        session.add(DeliveryEvent(delivery_id=row.id, kind="complaint", detail="abuse"))
    session.commit()
    (loud,) = gather_status(session, settings, DAY)["Complaints"]
    assert loud["rate"] == "0.20%"
    assert loud["warning"].startswith("WARNING: complaint rate 0.20% is above 0.1%")
