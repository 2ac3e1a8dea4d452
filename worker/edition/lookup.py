"""Finding "the edition of day D": the one place that knows how an edition is keyed.

An edition is one per (newsletter, Kyiv date): callers name it by `(slug, date)`
(worker.newsletters.edition_key) or by the digest's id; a bare date means the default
newsletter (`daily`), the only one an install had before migration 0009.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Select, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from worker.models import Digest, DigestState

DEFAULT_SLUG = "daily"  # worker.newsletters.DEFAULT_SLUG (not imported: this module is low)

# An edition is public once it went out to subscribers: not while built or held (editors may
# still change it), never when skipped, missed or cancelled (ops stop a wrong edition). Its
# pages (web/pages.py), its files under digests/ (web/edition_gate.py) and the welcome mail's
# "latest edition" all follow this.
PUBLISHED = (DigestState.sending, DigestState.paused, DigestState.sent)

# (newsletter slug, Kyiv date), a Kyiv date of the default newsletter, or a digest id (what
# workers and tasks carry)
EditionKey = tuple[str, date] | date | int


def edition_path(slug: str, day: date) -> str:
    """The edition's folder under digests/ and its path in page URLs: the default newsletter
    keeps the plain day, as before newsletters existed."""
    return day.isoformat() if slug == DEFAULT_SLUG else f"{slug}/{day.isoformat()}"


def _named(key: tuple[str, date] | date) -> tuple[str, date]:
    return key if isinstance(key, tuple) else (DEFAULT_SLUG, key)


def edition_select(key: EditionKey) -> Select[Digest]:
    if isinstance(key, tuple | date):
        slug, day = _named(key)
        return select(Digest).where(Digest.newsletter == slug, Digest.date == day)
    return select(Digest).where(Digest.id == int(key))


def find(session: Session, key: EditionKey) -> Digest | None:
    return session.scalars(edition_select(key)).first()


def lock(session: Session, key: EditionKey, *, create: bool = False) -> Digest | None:
    """The edition's row, locked until the transaction ends (SELECT ... FOR UPDATE; SQLite
    serializes writers anyway); created `built` first when asked and the key names a day."""
    query = edition_select(key).with_for_update()
    if session.get_bind().dialect.name == "sqlite":
        # SQLite has no row locks: a write first takes the database's write lock (other
        # writers wait on busy_timeout), and the read after it sees the latest commit
        session.execute(
            update(Digest)
            .where(query.whereclause)  # type: ignore[arg-type]
            .values(state=Digest.state)
            .execution_options(synchronize_session=False)
        )
    digest = session.scalars(query).first()
    if digest is not None or not create or not isinstance(key, tuple | date):
        return digest
    slug, day = _named(key)
    try:
        with session.begin_nested():
            session.add(Digest(newsletter=slug, date=day, state=DigestState.built))
    except IntegrityError:
        pass  # another caller created it; the locking read below waits for it
    return session.scalars(query.execution_options(populate_existing=True)).one()
