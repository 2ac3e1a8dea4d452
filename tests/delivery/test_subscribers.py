from __future__ import annotations

import io

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.delivery import subscriber_csv, subscribers
from worker.delivery.subscribers import InvalidAddress, validate_address
from worker.models import SubscriberState, Suppression


def test_validate_address_lowercases_and_reports_domain() -> None:
    address = validate_address("  Olena.K@Example.ORG ")
    assert address.email == "olena.k@example.org"
    assert address.domain == "example.org"


@pytest.mark.parametrize(
    "bad", ["", "no-at-sign", "a@b@c.org", "a b@example.org", "x@\nexample.org"]
)
def test_validate_address_rejects(bad: str) -> None:
    with pytest.raises(InvalidAddress):
        validate_address(bad)


def test_clean_name_strips_line_breaks() -> None:
    assert subscribers.clean_name("Olena\r\nBcc: evil@example.org") == "Olena Bcc: evil@example.org"


def test_add_remove_wipe_export(session: Session) -> None:
    subscribers.add(session, "one@example.org", "One")
    subscribers.add(session, "two@example.org")
    out = io.StringIO()
    assert subscriber_csv.export_csv(session, out) == 2
    assert (
        out.getvalue().splitlines()[0] == "email,name,state,created_at,confirmed_at,unsubscribed_at"
    )
    one = io.StringIO()
    assert subscriber_csv.export_csv(session, one, email="ONE@example.org") == 1
    assert "one@example.org,One,active" in one.getvalue()
    assert subscribers.remove(session, "one@example.org", wipe=True) is True
    assert subscribers.get(session, "one@example.org") is None
    assert subscribers.remove(session, "nobody@example.org") is False


def test_remove_keeps_a_suppression_entry_and_add_lifts_only_that_one(session: Session) -> None:
    subscribers.add(session, "left@example.org")
    subscribers.add(session, "erased@example.org")
    assert subscribers.remove(session, "left@example.org") is True
    assert subscribers.remove(session, "erased@example.org", wipe=True) is True
    reasons = {s.email: s.reason for s in session.scalars(select(Suppression))}
    assert reasons == {
        "left@example.org": subscribers.REMOVED_BY_OPS,
        "erased@example.org": subscribers.REMOVED_BY_OPS,
    }
    # ops adding the address back lifts their own entry...
    subscribers.add(session, "left@example.org")
    assert (
        session.scalar(select(Suppression).where(Suppression.email == "left@example.org")) is None
    )
    # ...but never one from a bounce or a complaint
    subscribers.add(session, "bounced@example.org")
    subscribers.suppress(session, "bounced@example.org", "bounce 5.1.1 unknown user")
    subscribers.add(session, "bounced@example.org")
    assert session.scalar(
        select(Suppression.reason).where(Suppression.email == "bounced@example.org")
    )


@pytest.mark.parametrize(
    ("state", "reason", "shown"),
    [
        (SubscriberState.active, None, "active"),
        (SubscriberState.pending, None, "pending"),
        (SubscriberState.unsubscribed, "complaint abuse (Yahoo)", "unsubscribed"),
        (SubscriberState.active, "bounce 5.1.1 unknown user", "suppressed (bounced)"),
        (SubscriberState.active, "550 5.1.1 no such user", "suppressed (bounced)"),
        (SubscriberState.active, "complaint abuse (Yahoo)", "suppressed (complaint)"),
        (SubscriberState.active, subscribers.REMOVED_BY_OPS, "suppressed"),
    ],
)
def test_standing(state: SubscriberState, reason: str | None, shown: str) -> None:
    assert subscribers.standing(state, reason) == shown
