"""The bundled newsletters on the sample day: two daily editions, each with its own List-Id
and unsubscribe; leaving one keeps the other; the weekly roundup on the Saturday; and the
Ukrainian email carries no English label (checked against the catalogue).

One module-wide run (collect the sample feeds, build and deliver through the lifecycle); the
builds leave the spoken briefing out, which tests/integration/test_daily_run.py covers."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import date
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

import pytest
from babel.messages.pofile import read_po
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.conftest import EXAMPLES, make_settings
from tests.delivery.helpers import read_maildir
from web.app import create_app
from worker import db, i18n, newsletters, pipeline, subscriptions
from worker.celery_app import configure
from worker.delivery import subscriber_csv
from worker.digest.build import build_digest
from worker.edition import lifecycle
from worker.inbox import handle
from worker.models import Article, Digest, Subscriber
from worker.settings import Settings
from worker.storage import Storage

DAY = date(2026, 11, 27)  # a Friday: both dailies
SATURDAY = date(2026, 11, 28)  # the weekly roundup's day


def _no_briefing(session: Session, settings: Settings, storage: Storage, day: date) -> Digest:
    return build_digest(session, settings, storage, day)


def _edition(settings: Settings, slug: str, day: date) -> dict[str, Any]:
    scoped = newsletters.scoped(settings, slug)
    built = lifecycle.build(scoped, day, builder=_no_briefing, by="test")
    assert built.ok, built.line()
    return pipeline.deliver(scoped, day)


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("newsletters")
    settings = make_settings(tmp, newsletters=EXAMPLES / "newsletters.toml")
    db.upgrade(settings)
    configure(settings)
    with (
        db.session_scope(settings) as session,
        (EXAMPLES / "subscribers.csv").open(encoding="utf-8") as csv,
    ):
        subscriber_csv.import_csv(session, csv)
    pipeline.collect(settings)
    daily = {slug: _edition(settings, slug, DAY) for slug in ("daily", "ukrainian")}
    yield {"settings": settings, "daily": daily, "outbox": read_maildir(settings.outbox_dir)}
    db.get_engine(settings.database_url).dispose()


def _to(messages: list[EmailMessage], address: str) -> list[EmailMessage]:
    return [m for m in messages if address in str(m["To"])]


def _list_id(message: EmailMessage) -> str:
    found = re.search(r"<([^>]+)>", str(message["List-Id"]))
    assert found is not None
    return found.group(1)


def test_both_dailies_go_out_each_with_its_own_list_id_and_unsubscribe(
    sample: dict[str, Any],
) -> None:
    assert {slug: r["sent_now"] for slug, r in sample["daily"].items()} == {
        "daily": 3,  # every sample subscriber
        "ukrainian": 2,  # Olena and Iryna chose it
    }
    olena = _to(sample["outbox"], "olena.reader@example.org")
    assert sorted(_list_id(m) for m in olena) == ["daily.example.org", "ukrainian.example.org"]
    links = {_list_id(m): str(m["List-Unsubscribe"]).strip("<>") for m in olena}
    assert links["daily.example.org"].endswith("/daily")
    assert links["ukrainian.example.org"].endswith("/ukrainian")
    assert all(str(m["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click" for m in olena)
    senders = {_list_id(m): str(m["From"]) for m in olena}
    assert "shchodnia@example.org" in senders["ukrainian.example.org"]
    assert len(_to(sample["outbox"], "mark.listener@example.com")) == 1  # daily and weekly


def test_status_lists_every_newsletter_with_its_edition(sample: dict[str, Any]) -> None:
    from worker.status import newsletter_rows

    settings: Settings = sample["settings"]
    with db.session_scope(settings) as session:
        rows = newsletter_rows(session, settings, DAY, newsletters.all_newsletters(settings))
    edition = f"edition {DAY.isoformat()}"
    seen = {r["slug"]: (r[edition], r["recipients"]) for r in rows}
    assert seen == {
        "daily": ("sent", 3),
        "ukrainian": ("sent", 2),
        "weekly": ("no edition that day", "-"),  # a Friday
    }


def _visible(message: EmailMessage) -> str:
    """What a reader sees: the text part and the HTML part's text, without links and the
    postal address (a setting the newsroom writes, not a label)."""
    parts = []
    for kind in ("plain", "html"):
        body = message.get_body((kind,))
        assert body is not None
        text = body.get_content()
        if kind == "html":
            text = re.sub(r"(?s)<(style|head)\b.*?</\1>", " ", text)
            text = html.unescape(re.sub(r"<[^>]+>", " ", text))
        parts.append(text)
    seen = re.sub(r"https?://\S+", " ", "\n".join(parts))
    return seen.replace("digestcast sample newsroom, 1 Example Street, Kyiv, Ukraine", " ")


def _no_english_label(seen: str, where: str) -> int:
    """Asserts no English label of the catalogue (its pieces between placeholders) is in
    `seen`; returns how many were checked."""
    with i18n.catalogue_path("uk").open("rb") as po:
        catalogue = read_po(po, locale="uk")
    checked = 0
    for message in catalogue:
        if not message.id:
            continue
        english = message.id if isinstance(message.id, tuple) else (message.id,)
        for text in english:
            for piece in re.split(r"%\(\w+\)s", text):
                piece = piece.strip(" ,.:;!—-")
                if len(piece) >= 4:
                    assert piece not in seen, f"English label {piece!r} in {where}"
                    checked += 1
    return checked


def _page_text(page: str) -> str:
    """A page's visible text: tags, scripts and styles out, entities decoded."""
    page = re.sub(r"(?s)<(style|script)\b.*?</\1>", " ", page)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def test_the_ukrainian_briefing_and_archive_pages_have_no_english_label_left(
    sample: dict[str, Any],
) -> None:
    from worker.audio.podcast import publish_podcasts
    from worker.storage import get_storage

    settings = sample["settings"]
    with db.session_scope(settings) as session:
        publish_podcasts(session, settings, get_storage(settings))
    with TestClient(create_app(settings)) as client:
        feed = client.get("/feeds/ukrainian/podcast.xml")
        assert feed.status_code == 200 and "<language>uk</language>" in feed.text
        assert client.get("/feeds/ukrainian/other.xml").status_code == 404
        pages = {
            url: client.get(url)
            for url in (
                "/briefing/ukrainian/2026-11-27",
                "/digests/ukrainian/",
                "/edition/ukrainian/2026-11-27",
            )
        }
        missing = client.get("/briefing/ukrainian/2026-01-01")
        english = client.get("/briefing/2026-11-27")
        with db.session_scope(settings) as session:
            story = session.scalar(select(Article.id).where(Article.language == "uk").limit(1))
        assert story is not None
        listen = client.get(f"/listen/{story}")  # a story's page speaks the story's language
    for url, response in pages.items():
        assert response.status_code == 200, url
        assert '<html lang="uk">' in response.text
        seen = _page_text(response.text)
        assert _no_english_label(seen, url) > 60
        assert "Україна щодня" in seen
    assert "пʼятниця, 27 листопада 2026" in _page_text(pages["/briefing/ukrainian/2026-11-27"].text)
    assert "Архів" in _page_text(pages["/digests/ukrainian/"].text)
    assert 'href="/feeds/ukrainian/podcast.xml"' in pages["/digests/ukrainian/"].text
    assert missing.status_code == 404 and "Не знайдено" in missing.text
    assert listen.status_code == 200 and '<html lang="uk">' in listen.text
    seen = _page_text(listen.text)
    assert _no_english_label(seen, "the listen page") > 60
    assert "Слухати" in seen and "листопада 2026" in seen and "Київ" in seen
    # the English daily's page of the same day stays English
    assert english.status_code == 200 and "Friday, 27 November 2026" in english.text
    assert '<html lang="en">' in english.text


def test_the_ukrainian_email_has_no_english_label_left(sample: dict[str, Any]) -> None:
    olena = _to(sample["outbox"], "olena.reader@example.org")
    (uk,) = [m for m in olena if _list_id(m) == "ukrainian.example.org"]
    seen = _visible(uk)
    assert _no_english_label(seen, "the Ukrainian email") > 30
    # and the Ukrainian ones are there: labels, the Babel date, the byline word
    for label in ("ГОЛОВНИЙ МАТЕРІАЛ", "Відписатися", "Автор: ", "пʼятниця, 27 листопада 2026"):
        assert label in seen
    assert str(uk["Subject"]).isascii() is False  # the lead's Ukrainian headline


def test_one_click_leaves_only_that_newsletter(sample: dict[str, Any]) -> None:
    settings: Settings = sample["settings"]
    olena = _to(sample["outbox"], "olena.reader@example.org")
    (uk,) = [m for m in olena if _list_id(m) == "ukrainian.example.org"]
    path = urlsplit(str(uk["List-Unsubscribe"]).strip("<>")).path
    with TestClient(create_app(settings)) as client:
        page = client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert page.status_code == 200
    # the page about leaving the Ukrainian newsletter speaks Ukrainian
    assert "Відписатися від усього" in page.text and '<html lang="uk">' in page.text
    assert "Ви й далі отримуєте: Ukraine Daily." in page.text  # what she still receives
    with db.session_scope(settings) as session:
        row = session.scalar(
            select(Subscriber).where(Subscriber.email == "olena.reader@example.org")
        )
        assert row is not None and row.state == "active"
        assert subscriptions.slugs_of(session, row.id) == ["daily"]
        ukrainian = session.scalar(
            select(func.count(Subscriber.id)).where(subscriptions.receives("ukrainian"))
        )
        assert ukrainian == 1  # Iryna


def test_the_mailto_of_one_newsletter_leaves_only_it(sample: dict[str, Any]) -> None:
    """What a mail client sends for the Ukrainian daily's List-Unsubscribe mailto
    (`subject=unsubscribe-TOKEN/ukrainian`), read from the inbox: Iryna leaves that one."""
    settings: Settings = sample["settings"]
    iryna = [m for m in sample["outbox"] if _list_id(m) == "ukrainian.example.org"]
    (uk,) = [m for m in iryna if "olena" not in str(m["To"])]
    token = urlsplit(str(uk["List-Unsubscribe"]).strip("<>")).path.split("/")[2]
    request = (
        f"From: {uk['To']}\r\nTo: unsubscribe@example.org\r\n"
        f"Subject: unsubscribe-{token}/ukrainian\r\n\r\nThis message will unsubscribe you.\r\n"
    ).encode()
    assert handle.handle(settings, request).outcomes == ("left_newsletter",)
    assert handle.handle(settings, request).outcomes == ("already",)
    with db.session_scope(settings) as session:
        address = uk["To"].addresses[0].addr_spec
        row = session.scalar(select(Subscriber).where(Subscriber.email == address))
        assert row is not None and row.state == "active"  # still on her other newsletters
        assert "ukrainian" not in subscriptions.slugs_of(session, row.id)


def test_the_weekly_roundup_goes_out_on_saturday_with_the_weeks_top_stories(
    sample: dict[str, Any],
) -> None:
    settings: Settings = sample["settings"]
    weekly = newsletters.get(settings, "weekly")
    assert not weekly.publishes_on(DAY) and weekly.publishes_on(SATURDAY)
    result = _edition(settings, "weekly", SATURDAY)
    assert result["sent_now"] == 2  # Mark and Iryna
    with db.session_scope(settings) as session:
        digest = session.scalar(
            select(Digest).where(Digest.newsletter == "weekly", Digest.date == SATURDAY)
        )
        assert digest is not None and digest.article_count == weekly.top == 5
        # a roundup re-reads the week: it claims nothing from the dailies
        assert session.scalar(select(func.count()).where(Article.digest_id == digest.id)) == 0
    roundup = [m for m in read_maildir(settings.outbox_dir) if _list_id(m) == "weekly.example.org"]
    assert len(roundup) == 2
