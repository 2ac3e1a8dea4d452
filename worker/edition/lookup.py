"""Finding "the edition of day D": the one place that knows how an edition is keyed.

Today an edition is one per Kyiv date; with several newsletters it becomes (newsletter, date),
and only this module changes.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Select, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from worker.models import Digest, DigestState

EditionKey = date | int  # a Kyiv date, or a digest id (what workers and tasks carry)


def edition_select(key: EditionKey) -> Select[Digest]:
    if isinstance(key, date):
        return select(Digest).where(Digest.date == key)
    return select(Digest).where(Digest.id == int(key))


def find(session: Session, key: EditionKey) -> Digest | None:
    return session.scalars(edition_select(key)).first()


def lock(session: Session, key: EditionKey, *, create: bool = False) -> Digest | None:
    """The edition's row, locked until the transaction ends (SELECT ... FOR UPDATE; SQLite
    serializes writers anyway); created `built` first when asked and the key is a date."""
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
    if digest is not None or not create or not isinstance(key, date):
        return digest
    try:
        with session.begin_nested():
            session.add(Digest(date=key, state=DigestState.built))
    except IntegrityError:
        pass  # another caller created it; the locking read below waits for it
    return session.scalars(query.execution_options(populate_existing=True)).one()
