"""CSV import of the subscriber list: bad rows reported, duplicates merged, nobody
resubscribed."""

from __future__ import annotations

import io

from sqlalchemy.orm import Session

from worker.delivery import subscriber_csv, subscribers
from worker.models import SubscriberState, Suppression


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
    report = subscriber_csv.import_csv(session, io.StringIO(csv_text))
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
    again = subscriber_csv.import_csv(session, io.StringIO(csv_text))
    assert again.added == 0
    assert subscribers.count(session) == 4


def test_import_requires_email_header(session: Session) -> None:
    report = subscriber_csv.import_csv(session, io.StringIO("name,mail\nx,y@example.org\n"))
    assert report.errors == [(1, "header row has no `email` column")]
    assert report.added == 0


def test_import_never_resubscribes(session: Session) -> None:
    subscribers.add(session, "left@example.org")
    subscribers.remove(session, "left@example.org")
    subscriber_csv.import_csv(session, io.StringIO("email\nleft@example.org\n"))
    person = subscribers.get(session, "left@example.org")
    assert person is not None and person.state == SubscriberState.unsubscribed
