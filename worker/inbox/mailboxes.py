"""Messages from a path: a Maildir (cur/ new/ tmp/), an mbox file, a folder of message files,
or one message file. Read only: the mailbox is left as it was (handling is idempotent, so
importing it again changes nothing)."""

from __future__ import annotations

import mailbox
from collections.abc import Iterator
from pathlib import Path


class MailboxError(ValueError):
    pass


def _is_maildir(path: Path) -> bool:
    return (path / "cur").is_dir() and (path / "new").is_dir()


def _is_mbox(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(5) == b"From "


def messages(path: Path) -> Iterator[tuple[str, bytes]]:
    """(key, raw bytes) of every message under `path`."""
    if path.is_dir() and _is_maildir(path):
        box = mailbox.Maildir(str(path), factory=None, create=False)
        for key in sorted(box.iterkeys()):
            yield key, box.get_bytes(key)
    elif path.is_dir():
        for file in sorted(p for p in path.iterdir() if p.is_file()):
            yield from messages(file)
    elif path.is_file() and _is_mbox(path):
        mbox = mailbox.mbox(str(path), factory=None, create=False)
        try:
            for key in mbox.iterkeys():
                yield f"{path.name}#{key}", mbox.get_bytes(key)
        finally:
            mbox.close()
    elif path.is_file():
        yield path.name, path.read_bytes()
    else:
        raise MailboxError(f"{path}: no such Maildir, mbox or message file")
