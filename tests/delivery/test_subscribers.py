from __future__ import annotations

import io

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.delivery import subscribers
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


def test_import_reports_bad_rows_and_merges_duplicates(session: Session) -> None:
    subscribers.add(session, "existing@example.org", "Old Name")
    session.add(Suppression(email="bounced@example.org", reason="550 no such user"))
    session.flush()
    csv_text = (
        "email,name\n"
        "a@example.org,Anna\n"
        "not-an-email,Bob\n"
        "\n"
        "A@Example.org,Anna K\n"  # duplicate of line 2, different case: merged
        ",Nobody\n"
        "existing@example.org,New Name\n"
        "bounced@example.org,\n"
        "c@example.org\n"
    )
    report = subscribers.import_csv(session, io.StringIO(csv_text))
    assert [line for line, _ in report.errors] == [3, 6]
    assert "not-an-email" in report.errors[0][1]
    assert report.added == 3  # a, bounced, c
    assert report.duplicates == 1
    assert report.updated == 1
    assert report.suppressed == 1
    people = {s.email: s for s in subscribers.list_(session)}
    assert set(people) == {
        "existing@example.org",
        "a@example.org",
        "bounced@example.org",
        "c@example.org",
    }
    assert people["a@example.org"].name == "Anna K"
    assert people["existing@example.org"].name == "New Name"
    assert people["a@example.org"].domain == "example.org"
    # idempotent: the same file again adds nothing
    again = subscribers.import_csv(session, io.StringIO(csv_text))
    assert again.added == 0
    assert subscribers.count(session) == 4


def test_import_requires_email_header(session: Session) -> None:
    report = subscribers.import_csv(session, io.StringIO("name,mail\nx,y@example.org\n"))
    assert report.errors == [(1, "header row has no `email` column")]
    assert report.added == 0


def test_import_never_resubscribes(session: Session) -> None:
    subscribers.add(session, "left@example.org")
    subscribers.remove(session, "left@example.org")
    subscribers.import_csv(session, io.StringIO("email\nleft@example.org\n"))
    person = subscribers.get(session, "left@example.org")
    assert person is not None and person.state == SubscriberState.unsubscribed


def test_add_remove_wipe_export(session: Session) -> None:
    subscribers.add(session, "one@example.org", "One")
    subscribers.add(session, "two@example.org")
    out = io.StringIO()
    assert subscribers.export_csv(session, out) == 2
    assert (
        out.getvalue().splitlines()[0] == "email,name,state,created_at,confirmed_at,unsubscribed_at"
    )
    one = io.StringIO()
    assert subscribers.export_csv(session, one, email="ONE@example.org") == 1
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
