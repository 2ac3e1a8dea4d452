"""An edition's files under /media/digests/ are public once the edition goes out, as its pages
are: a built or held edition's briefing and email are not fetched by guessing the URL (the
fast range path included), a cancelled one's never, another newsletter's by its own state."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from tests.web.conftest import add_digest
from web.edition_gate import EditionGate
from worker import db
from worker.models import Digest, DigestState
from worker.settings import Settings
from worker.storage import LocalStorage

DAY = date(2026, 11, 27)
FILES = ("briefing.mp3", "email.html", "digest.html")


def _edition(settings: Settings, storage: LocalStorage, mp3: bytes, state: DigestState) -> None:
    with db.session_scope(settings) as session:
        add_digest(session, storage, DAY, state=state)
    storage.write_bytes("digests/2026-11-27/briefing.mp3", mp3)
    storage.write_bytes("digests/2026-11-27/email.html", b"<p>{{unsubscribe}}</p>")


@pytest.mark.parametrize(
    "state",
    [DigestState.built, DigestState.held, DigestState.cancelled, DigestState.skipped],
)
def test_files_of_an_edition_that_did_not_go_out_are_not_served(
    client: TestClient,
    web_settings: Settings,
    storage: LocalStorage,
    mp3_bytes: bytes,
    state: DigestState,
) -> None:
    _edition(web_settings, storage, mp3_bytes, state)
    for name in FILES:
        url = f"/media/digests/2026-11-27/{name}"
        assert client.get(url).status_code == 404, name
        assert client.get(url, headers={"Range": "bytes=0-99"}).status_code == 404, name
        assert client.head(url).status_code == 404, name


@pytest.mark.parametrize("state", [DigestState.sending, DigestState.paused, DigestState.sent])
def test_files_of_an_edition_that_went_out_are_served_with_ranges(
    client: TestClient,
    web_settings: Settings,
    storage: LocalStorage,
    mp3_bytes: bytes,
    state: DigestState,
) -> None:
    _edition(web_settings, storage, mp3_bytes, state)
    whole = client.get("/media/digests/2026-11-27/briefing.mp3")
    assert whole.status_code == 200 and whole.content == mp3_bytes
    for _ in range(3):  # the first asks the database, the next come from the kept answer
        part = client.get(
            "/media/digests/2026-11-27/briefing.mp3", headers={"Range": "bytes=10-109"}
        )
        assert part.status_code == 206 and part.content == mp3_bytes[10:110]


def test_no_edition_and_odd_keys(client: TestClient, storage: LocalStorage) -> None:
    storage.write_bytes("digests/2026-11-28/briefing.mp3", b"ID3 no edition row")
    storage.write_bytes("digests/stray.txt", b"not an edition's folder")
    storage.write_bytes("digests/2026-02-30/briefing.mp3", b"ID3 no such day")
    for key in ("2026-11-28/briefing.mp3", "stray.txt", "2026-02-30/briefing.mp3"):
        assert client.get(f"/media/digests/{key}").status_code == 404, key


def test_another_newsletters_edition_follows_its_own_state(
    web_settings: Settings, storage: LocalStorage, mp3_bytes: bytes
) -> None:
    with db.session_scope(web_settings) as session:
        add_digest(session, storage, DAY, state=DigestState.sent)  # the daily went out
        session.add(Digest(newsletter="uk", date=DAY, subject="s", state=DigestState.held))
    storage.write_bytes("digests/uk/2026-11-27/briefing.mp3", mp3_bytes)
    gate = EditionGate()
    assert gate.allows(web_settings, "digests/2026-11-27/briefing.mp3") is True
    assert gate.allows(web_settings, "digests/uk/2026-11-27/briefing.mp3") is False
    with db.session_scope(web_settings) as session:
        session.execute(
            update(Digest).where(Digest.newsletter == "uk").values(state=DigestState.sending)
        )
    assert gate.known("digests/uk/2026-11-27/briefing.mp3") is False  # kept a few seconds
    gate.kept.clear()
    assert gate.allows(web_settings, "digests/uk/2026-11-27/briefing.mp3") is True
    assert gate.known("articles/2026/11/27/x/audio.mp3") is True  # articles: not editions
