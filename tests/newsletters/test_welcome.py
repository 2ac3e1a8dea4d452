"""The welcome mail: after a confirmation, one per chosen newsletter, in its language, with
the latest edition's link and its briefing; once per confirmation (a second click welcomes
nobody again); the subscribe form only asks, so nothing is joined before the link is used."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from email.message import EmailMessage
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.conftest import EXAMPLES, make_settings
from tests.delivery.helpers import read_maildir
from web.app import create_app
from worker import db, subscriptions
from worker.celery_app import configure
from worker.models import Digest, DigestState, Subscriber
from worker.settings import Settings
from worker.storage import get_storage


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def _subject(message: EmailMessage) -> str:
    return str(message["Subject"])


def _settings(tmp_path: object) -> Settings:
    settings = make_settings(tmp_path, newsletters=EXAMPLES / "newsletters.toml")  # type: ignore[arg-type]
    db.upgrade(settings)
    configure(settings)
    # the Ukrainian daily's latest edition, sent, with its spoken briefing
    with db.session_scope(settings) as session:
        session.add(
            Digest(
                newsletter="ukrainian",
                date=date(2026, 11, 27),
                state=DigestState.sent,
                subject="Як у Чернігові відновлюють бібліотеку",
                window_end=datetime(2026, 11, 27, 5, tzinfo=UTC),
            )
        )
    get_storage(settings).write_bytes("digests/ukrainian/2026-11-27/briefing.mp3", b"ID3")
    return settings


def test_welcome_once_per_confirmation_in_each_newsletters_language(tmp_path: object) -> None:
    settings = _settings(tmp_path)
    with TestClient(create_app(settings)) as client:
        form = client.get("/subscribe").text
        assert "Україна щодня" in form and "Ukraine Weekly" in form  # the choice is offered
        client.post(
            "/subscribe",
            data={
                "email": "reader@example.org",
                "name": "Oksana Reader",
                "newsletter": ["ukrainian", "weekly"],
                "csrf_token": _csrf(form),
            },
        )
        (confirmation,) = read_maildir(settings.outbox_dir)
        with db.session_scope(settings) as session:
            row = session.scalar(select(Subscriber).where(Subscriber.email == "reader@example.org"))
            assert row is not None
            row_id = row.id
            assert subscriptions.slugs_of(session, row_id) == []  # asked, not joined
        body = confirmation.get_body(("plain",))
        assert body is not None
        link = re.search(r"https://daily\.example\.org(/confirm/\S+)", body.get_content())
        assert link is not None
        page = client.get(link.group(1)).text
        done = client.post(link.group(1), data={"csrf_token": _csrf(page)})
        assert done.status_code == 200
        again = client.post(link.group(1), data={"csrf_token": _csrf(page)})
        assert "already subscribed to Україна щодня, Ukraine Weekly" in again.text
    with db.session_scope(settings) as session:
        assert subscriptions.slugs_of(session, row_id) == ["ukrainian", "weekly"]
    # the Maildir's file names do not keep the sending order: leave the confirmation out by subject
    welcomes = [
        m for m in read_maildir(settings.outbox_dir) if not _subject(m).startswith("Confirm")
    ]
    assert sorted(_subject(m) for m in welcomes) == [
        "Welcome to Ukraine Weekly",
        "Ласкаво просимо до Україна щодня",
    ]
    (uk,) = [m for m in welcomes if "Україна" in _subject(m)]
    text = uk.get_body(("plain",))
    assert text is not None
    content = text.get_content()
    assert "Вітаємо, Oksana!" in content
    assert "https://daily.example.org/digests/ukrainian/2026-11-27" in content
    assert "https://daily.example.org/briefing/ukrainian/2026-11-27" in content  # its audio
    assert "shchodnia@example.org" in str(uk["From"])
    (weekly,) = [m for m in welcomes if "Weekly" in _subject(m)]
    weekly_text = weekly.get_body(("plain",))
    assert (
        weekly_text is not None and "The first edition is on its way." in weekly_text.get_content()
    )


def test_a_subscriber_adds_a_newsletter_through_the_form(tmp_path: object) -> None:
    """Already on the daily, they ask for the Ukrainian one: nothing changes until they
    confirm, then they are on both and welcomed to the new one only."""
    from worker.delivery import subscribers

    settings = _settings(tmp_path)
    with db.session_scope(settings) as session:
        row_id = subscribers.add(session, "both@example.org", newsletters=["daily"]).id
    with TestClient(create_app(settings)) as client:
        form = client.get("/subscribe").text
        client.post(
            "/subscribe",
            data={
                "email": "both@example.org",
                "newsletter": ["ukrainian"],
                "csrf_token": _csrf(form),
            },
        )
        with db.session_scope(settings) as session:
            assert subscriptions.slugs_of(session, row_id) == ["daily"]  # asked only
        (confirmation,) = read_maildir(settings.outbox_dir)
        body = confirmation.get_body(("plain",))
        assert body is not None
        link = re.search(r"https://daily\.example\.org(/confirm/\S+)", body.get_content())
        assert link is not None
        page = client.get(link.group(1)).text
        assert client.post(link.group(1), data={"csrf_token": _csrf(page)}).status_code == 200
    with db.session_scope(settings) as session:
        assert subscriptions.slugs_of(session, row_id) == ["daily", "ukrainian"]
    # the maildir's order is its file names', not the sending order: leave the confirmation out
    welcomes = [
        m for m in read_maildir(settings.outbox_dir) if _subject(m) != _subject(confirmation)
    ]
    assert [_subject(m) for m in welcomes] == ["Ласкаво просимо до Україна щодня"]


def test_a_newsletters_own_templates_override_the_shipped_ones(tmp_path: Path) -> None:
    from worker import newsletters, welcome

    own = tmp_path / "weekly-templates"
    own.mkdir()
    (own / "welcome.txt.j2").write_text(
        "{{ _('Welcome to %(name)s', name=newsletter_name) }}: Saturdays, 09:00.\n",
        encoding="utf-8",
    )
    table = tmp_path / "newsletters.toml"
    table.write_text(
        '[[newsletter]]\nslug = "daily"\nname = "Daily"\n\n'
        '[[newsletter]]\nslug = "weekly"\nname = "Weekly"\nlanguage = "uk"\n'
        'schedule = "weekly saturday 09:00"\ntemplates = "weekly-templates"\n',
        encoding="utf-8",
    )
    settings = make_settings(tmp_path, newsletters=table)
    db.upgrade(settings)
    mail = welcome.compose(settings, newsletters.get(settings, "weekly"), "a@example.org", None)
    assert mail.text == "Ласкаво просимо до Weekly: Saturdays, 09:00.\n"  # its own, in uk
    assert "Ласкаво просимо до Weekly." in mail.html  # the shipped HTML part
