"""An editor reorders the sample day's stories, drops one and a news item, sets the subject;
the rebuilt email has the new order; once the send started, editing is refused."""

from __future__ import annotations

import re
from datetime import date

from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.web.ops.conftest import csrf, sign_in
from worker import db
from worker.digest.tasks import builder
from worker.edition import lifecycle
from worker.edition.lookup import find
from worker.models import Article, FeedItem
from worker.settings import Settings
from worker.storage import get_storage

DAY = date(2026, 11, 27)


def _email_titles(settings: Settings, titles: list[str]) -> list[str]:
    """The given titles in the order the compiled email's text part shows them (absent ones
    left out)."""
    text = get_storage(settings).read_bytes("digests/2026-11-27/email.txt").decode()
    text = " ".join(text.split())  # long titles are wrapped
    return sorted((t for t in titles if t in text), key=text.find)


def test_editor_reorders_drops_and_sets_subject(
    console: TestClient, console_settings: Settings
) -> None:
    assert lifecycle.build(console_settings, DAY, builder=builder(), by="schedule").ok
    token = sign_in(console, "editor@example.org")
    page = console.get("/ops/editions/2026-11-27/edit")
    assert page.status_code == 200
    ids = [int(i) for i in re.findall(r'name="pos-(\d+)"', page.text)]
    assert len(ids) >= 4
    with db.session_scope(console_settings) as session:
        titles = {
            a.id: a.title for a in session.scalars(select(Article).where(Article.id.in_(ids)))
        }
        item = session.scalars(select(FeedItem).where(FeedItem.digest_id.is_not(None))).first()
        assert item is not None
        item_id, item_title = item.id, item.title
    assert _email_titles(console_settings, [titles[i] for i in ids])[:2] == [
        titles[ids[0]],
        titles[ids[1]],
    ]
    # the last story becomes the lead, the first goes last, the second is dropped
    new = [ids[-1], *ids[2:-1], ids[0]]
    form = {f"pos-{story}": str(n) for n, story in enumerate(new, 1)}
    form |= {
        "csrf_token": csrf(page.text),
        "lead": str(ids[-1]),
        f"drop-{ids[1]}": "1",
        f"dropitem-{item_id}": "1",
        "subject": "Our pick of the day",
        "preheader": "Read this first",
        "reason": "the grid story leads today",
    }
    r = console.post("/ops/editions/2026-11-27/edit", data=form, follow_redirects=True)
    assert r.status_code == 200 and "edition-edit" in r.text and "done" in r.text
    shown = _email_titles(console_settings, [titles[i] for i in ids])
    assert shown == [titles[i] for i in new]  # the new order, without the dropped story
    html = get_storage(console_settings).read_bytes("digests/2026-11-27/email.html").decode()
    text = get_storage(console_settings).read_bytes("digests/2026-11-27/email.txt").decode()
    assert item_title not in text and "Read this first" in html
    with db.session_scope(console_settings) as session:
        digest = find(session, DAY)
        assert digest is not None and digest.subject == "Our pick of the day"
        assert digest.article_count == len(ids) - 1
        events = lifecycle.history(session, digest.id)
    assert events[-1]["action"] == "edit" and events[-1]["by"] == "editor@example.org"
    preview = console.get("/ops/editions/2026-11-27/preview")
    assert "Our pick of the day" in preview.text
    # the dropped story is listed, so it can be added back
    again = console.get("/ops/editions/2026-11-27/edit")
    assert "(dropped)" in again.text and f'id="drop-{ids[1]}" value="1" aria-label' in again.text

    # once the send has started, nothing changes any more
    assert lifecycle.start(console_settings, DAY, by="test").ok
    form["subject"] = "Too late"
    r = console.post("/ops/editions/2026-11-27/edit", data={**form, "csrf_token": token})
    assert "refused" in r.text and "no longer changes" in r.text
    assert 'id="locked"' in console.get("/ops/editions/2026-11-27/edit").text
    with db.session_scope(console_settings) as session:
        digest = find(session, DAY)
        assert digest is not None and digest.subject == "Our pick of the day"

    console.cookies.clear()
    sign_in(console, "viewer@example.org")
    assert console.get("/ops/editions/2026-11-27/edit").status_code == 403
