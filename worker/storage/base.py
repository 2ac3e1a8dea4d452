"""What every storage backend shares: the protocol, the key check, the content type of a key.

Keys are made by the project (worker/storage/keys.py; never taken from a feed or a request);
`check_key` still refuses anything that could escape the root.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol


class StorageError(ValueError):
    pass


def check_key(key: str) -> str:
    if (
        not key
        or key.startswith("/")
        or "\\" in key
        or "\x00" in key
        or any(part in ("", ".", "..") for part in key.split("/"))
    ):
        raise StorageError(f"refusing storage key {key!r}")
    return key


class Storage(Protocol):
    def write_bytes(self, key: str, data: bytes) -> None: ...
    def read_bytes(self, key: str) -> bytes: ...
    def exists(self, key: str) -> bool: ...
    def size(self, key: str) -> int: ...
    def delete(self, key: str) -> None: ...
    def list(self, prefix: str) -> Iterator[str]: ...
    def local_path(self, key: str) -> Path | None:
        """A filesystem path for the key when the backend has one (for serving ranges)."""
        ...


# the stdlib's own table, without the host's /etc/mime.types, so every host (and the S3
# objects' stored Content-Type) agrees; our .xml files are the podcast feeds, .srt SubRip
_TYPES = mimetypes.MimeTypes()
_TYPES.add_type("application/rss+xml", ".xml")
_TYPES.add_type("application/x-subrip", ".srt")
_UTF8_TYPES = ("text/", "application/rss+xml")


def content_type(key: str) -> str:
    """The Content-Type a stored file is served and uploaded with; our text is UTF-8."""
    guessed, _ = _TYPES.guess_type(key)
    if guessed is None:
        return "application/octet-stream"
    return f"{guessed}; charset=utf-8" if guessed.startswith(_UTF8_TYPES) else guessed
