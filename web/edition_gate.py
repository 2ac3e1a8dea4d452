"""Which of an edition's files a reader may fetch under /media/: the folder of an edition under
digests/ (its email, its briefing MP3 and chapters) is public once the edition goes out, as
its pages are (worker/edition/lookup.py PUBLISHED); before that, a built or held edition's
files are the editors' alone, and a cancelled one's are nobody's.

The answer for an edition is kept KEEP_SECONDS, so the byte ranges a player asks for in a
row do not each ask the database; the fast range path (web/media_ranges.py) only serves what
is kept as allowed and leaves the rest to the full stack, which asks.
"""

from __future__ import annotations

import time
from datetime import date
from typing import Any

from sqlalchemy import select

from worker.db import session_scope
from worker.edition.lookup import PUBLISHED
from worker.models import Digest
from worker.settings import Settings
from worker.storage import keys

KEEP_SECONDS = 5.0
KEPT = 4096


class EditionGate:
    def __init__(self) -> None:
        self.kept: dict[tuple[str, date], tuple[float, bool]] = {}

    def known(self, key: str) -> bool | None:
        """Whether `key` may be served, when that is known without the database (None: ask)."""
        if not key.startswith(keys.DIGESTS):
            return True
        edition = keys.edition_of(key)
        if edition is None:
            return False  # nothing under digests/ but an edition's folder is served
        hit = self.kept.get(edition)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        return None

    def allows(self, settings: Settings, key: str) -> bool:
        """Whether `key` may be served, asking the database when the answer is not kept."""
        known = self.known(key)
        if known is not None:
            return known
        edition = keys.edition_of(key)
        assert edition is not None
        slug, day = edition
        with session_scope(settings) as session:
            state = session.scalar(
                select(Digest.state).where(Digest.newsletter == slug, Digest.date == day)
            )
        allowed = state in PUBLISHED
        if len(self.kept) >= KEPT:
            self.kept.clear()
        self.kept[edition] = (time.monotonic() + KEEP_SECONDS, allowed)
        return allowed


def edition_gate(state: Any) -> EditionGate:
    """The app's gate (app.state), made on first use."""
    gate: EditionGate | None = getattr(state, "edition_gate", None)
    if gate is None:
        gate = state.edition_gate = EditionGate()
    return gate
