"""Files under DATA_DIR, written atomically: a temporary name, then a rename."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from worker.storage.base import StorageError, check_key


class LocalStorage:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._inside = str(self.root).rstrip("/") + "/"

    def _path(self, key: str) -> Path:
        # resolve (symlinks included) and contain; os.path on strings: this runs for every
        # media request, and pathlib's parsing cost more than the file read itself
        real = os.path.realpath(os.path.join(self._inside, check_key(key)))
        if not real.startswith(self._inside):
            raise StorageError(f"refusing storage key {key!r}")
        return Path(real)

    def write_bytes(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def read_bytes(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def size(self, key: str) -> int:
        return self._path(key).stat().st_size

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def list(self, prefix: str) -> Iterator[str]:
        base = self._path(prefix) if prefix else self.root
        if not base.is_dir():
            return
        for path in sorted(base.rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                yield path.relative_to(self.root).as_posix()

    def local_path(self, key: str) -> Path | None:
        return self._path(key)

    def open_contained(self, key: str) -> BinaryIO:
        """The key's file opened for reading, checked to lie inside the root AFTER opening:
        the kernel names the file actually opened (/proc/self/fd), so no symlink swapped in
        between a check and the open can lead outside. One open and one readlink instead of a
        realpath walk (an lstat per path component) on every media request.
        Raises StorageError for a refused key, OSError when there is no such file."""
        fd = self.open_fd_contained(key)
        try:
            return os.fdopen(fd, "rb")
        except BaseException:
            os.close(fd)
            raise

    def open_fd_contained(self, key: str) -> int:
        """`open_contained` as a bare descriptor (the caller closes it): the media fast path
        reads one range with pread and needs no file object."""
        return self.open_fd_at(self.path_of(key))

    def path_of(self, key: str) -> str:
        """The key's path under the root, unresolved (the key checked, nothing opened)."""
        return os.path.join(self._inside, check_key(key))

    def open_fd_at(self, path: str) -> int:
        """A `path_of` path opened, then checked to lie inside the root (raises as
        `open_contained`); a caller may keep the path of a key, never the verdict on a file."""
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            try:
                real = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:  # no /proc: the path walk instead
                real = os.path.realpath(path)
            if not real.startswith(self._inside):
                raise StorageError(f"refusing storage path {path!r}")
            return fd
        except BaseException:
            os.close(fd)
            raise
